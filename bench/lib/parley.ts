// Parley under test: a fresh data directory under bench/.data/, Parley started on it as a child
// process (with its own embedded PostgreSQL, on a free port on 127.0.0.1), an unlimited API key
// made with the CLI, and a small pg pool on the embedded database for the orchestrator.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { createPool } from '../../src/db/connection.ts';
import { type Child, DATA_ROOT, freePort, log, postmasterPid, ROOT, setDataDir, startChild, trackPool, waitForHttp } from './processes.ts';

const execFileAsync = promisify(execFile);

/** Removes the data dirs of earlier runs (unless their PostgreSQL still runs) and creates this run's. */
export function freshDataDir(startedAt: Date): string {
  fs.mkdirSync(DATA_ROOT, { recursive: true });
  for (const entry of fs.readdirSync(DATA_ROOT)) {
    const old = path.join(DATA_ROOT, entry);
    if (!entry.startsWith('run-')) continue;
    if (postmasterPid(old) === null) fs.rmSync(old, { recursive: true, force: true });
    else log(`leaving ${old}: its PostgreSQL is still running`);
  }
  const dir = path.join(DATA_ROOT, `run-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(dir, { recursive: true });
  setDataDir(dir);
  return dir;
}

export interface RunningParley {
  child: Child;
  pid: number;
  url: string;
  /** The environment Parley runs with (CLI commands on the same data dir use it too). */
  env: Record<string, string>;
}

/**
 * Starts `node dist/main.js serve` (what `npm start` runs; the bench scripts build dist/ first)
 * on the data dir (LOG_LEVEL=warn, embedded database) and waits for /readyz. `nodeArgs` go
 * before the script (e.g. --cpu-prof).
 */
export async function startParley(dataDir: string, options: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<RunningParley> {
  const main = path.join(ROOT, 'dist', 'main.js');
  if (!fs.existsSync(main)) throw new Error('dist/main.js is missing: run `npm run build` (the bench scripts do) before a benchmark');
  const port = await freePort();
  const env = { HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', ...options.env };
  const child = startChild('parley', [...(options.nodeArgs ?? []), main, 'serve'], { ...env, PORT: String(port) }, path.join(dataDir, 'parley.log'));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/readyz`, 180_000);
  log(`Parley (pid ${child.proc.pid}) ready at ${url}`);
  return { child, pid: child.proc.pid!, url, env };
}

/** An unlimited API key for `project` (created when missing), made with `parley keys create`. */
export async function createUnlimitedKey(parley: RunningParley, project: string): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'keys', 'create', '--project', project, '--rate-limit', '0'], {
    cwd: ROOT,
    env: { ...process.env, ...parley.env },
  });
  const key = stdout.trim();
  if (!/^prl_/.test(key)) throw new Error(`unexpected key output: ${stdout}`);
  return key;
}

export interface EmbeddedDb {
  /** The embedded database's URL, as Parley builds it. */
  databaseUrl: string;
  /** pid of the postmaster (for CPU sampling of PostgreSQL). */
  postmaster: number;
  /** A small pool (2 connections, application_name "bench"), ended by cleanup(). */
  pool: pg.Pool;
}

export function connectEmbedded(dataDir: string): EmbeddedDb {
  const password = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
  const pgPort = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[3]);
  const postmaster = postmasterPid(dataDir);
  if (postmaster === null) throw new Error(`no embedded PostgreSQL running in ${dataDir}`);
  const databaseUrl = `postgres://parley:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/parley`;
  const pool = createPool(databaseUrl, { max: 2, applicationName: 'bench' });
  trackPool(pool);
  return { databaseUrl, postmaster, pool };
}
