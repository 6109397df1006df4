// The start-up benchmark (`npm run bench:startup`, see bench/README.md): how long a warm start of
// the compiled server takes to its first answered API request, and a CLI command while a server
// runs, each against a raw baseline measured in the same round (bench/startup-baseline.mjs).
//   fresh data dir → first start of `node dist/main.js serve` (initdb, migrations, the default
//   project's key) → stopped → rounds of: warm start → first 200 → `parley keys list` → stop, and
//   the baseline's start → first 200 → its query → stop (the order alternates) → optionally the
//   same through tsx (`npm run dev`) for comparison → Markdown section appended to RESULTS.md.
// Exit code 1 when any round misses a target (after the section is written).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { fmt, percentile } from './lib/measure.ts';
import { connectEmbedded, freshDataDir } from './lib/parley.ts';
import { type Child, freePort, log, postmasterPid, ROOT, runBenchmark, sleep, startChild, stopChild } from './lib/processes.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';

const ROUNDS = knob('BENCH_STARTUP_ROUNDS', 5);
const TSX_ROUNDS = knob('BENCH_STARTUP_TSX_ROUNDS', 2);
const TIMEOUT_MINUTES = knob('BENCH_TIMEOUT_MINUTES', 15);
const LABEL = process.env.BENCH_LABEL ?? '';
const KEEP_DATA = process.env.BENCH_KEEP_DATA === '1';
const APPEND = process.env.BENCH_APPEND !== '0';
const START_TARGET_MS = 2_000;
const CLI_TARGET_MS = 1_000;
const CONTACTS = '/platform/v1/whatsapp/contacts';

const execFileAsync = promisify(execFile);
const COMPILED = ['dist/main.js'];
const SOURCES = ['--import', 'tsx', 'src/main.ts'];
const BASELINE = 'bench/startup-baseline.mjs';

/** One GET on a fresh connection: the status, or null while nothing listens. */
function get(url: string, key: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: { 'x-api-key': key }, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? null));
    });
    req.on('error', () => resolve(null));
    req.setTimeout(5_000, () => req.destroy());
  });
}

/** Starts a server child and returns the ms from spawn to its first 200 on `url`. */
async function timeToFirstAnswer(start: () => Child, url: string, key: string): Promise<{ child: Child; ms: number }> {
  const t0 = performance.now();
  const child = start();
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode} while starting`);
    const status = await get(url, key);
    if (status === 200) return { child, ms: performance.now() - t0 };
    if (status !== null) throw new Error(`${child.name} answered ${status} on ${url}`);
    if (performance.now() - t0 > 120_000) throw new Error(`${child.name} did not answer ${url} within 120 s`);
    await sleep(5);
  }
}

/** Runs a one-shot node command and returns its wall time; it must exit 0 and print `expect`. */
async function timeCommand(args: string[], env: Record<string, string>, expect: string): Promise<number> {
  const t0 = performance.now();
  const { stdout } = await execFileAsync(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env } });
  const ms = performance.now() - t0;
  if (!stdout.includes(expect)) throw new Error(`node ${args.join(' ')} did not list ${expect}:\n${stdout}`);
  return ms;
}

async function stopAndWait(child: Child, dataDir: string): Promise<void> {
  await stopChild(child, 60_000);
  for (let i = 0; i < 200 && postmasterPid(dataDir) !== null; i++) await sleep(50);
  if (postmasterPid(dataDir) !== null) throw new Error(`${child.name} left the embedded PostgreSQL running`);
}

interface Round {
  startMs: number;
  cliMs: number;
  baseStartMs: number;
  baseQueryMs: number;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadStart = loadavg();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: npm run build');
  const dataDir = freshDataDir(startedAt);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${CONTACTS}`;
  const env = { HOST: '127.0.0.1', PORT: String(port), PARLEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '' };
  const logFile = path.join(dataDir, 'parley.log');
  const parley = (entry: string[]) => () => startChild('parley', [...entry, 'serve'], env, logFile);

  // The first start initialises everything and prints the default project's key (stdout → log).
  log('first start: initdb, migrations, the default key');
  const first = parley(COMPILED)();
  let key: string | null = null;
  for (let i = 0; i < 2400 && !key; i++) {
    key = /prl_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}/.exec(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '')?.[0] ?? null;
    if (!key) await sleep(50);
  }
  if (!key) throw new Error('the first start printed no key');
  while ((await get(url, key)) !== 200) await sleep(50);
  const embedded = connectEmbedded(dataDir);
  const info = await machine(embedded.pool);
  await embedded.pool.end();
  await stopAndWait(first, dataDir);
  const prefix = key.slice(0, 12);

  const rounds: Round[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const measureParley = async () => {
      const { child, ms } = await timeToFirstAnswer(parley(COMPILED), url, key);
      const cliMs = await timeCommand([...COMPILED, 'keys', 'list'], env, prefix);
      await stopAndWait(child, dataDir);
      return { startMs: ms, cliMs };
    };
    const measureBaseline = async () => {
      const { child, ms } = await timeToFirstAnswer(() => startChild('baseline', [BASELINE, 'serve', dataDir, String(port)], {}, path.join(dataDir, 'baseline.log')), url, key);
      const queryMs = await timeCommand([BASELINE, 'query', dataDir], {}, prefix.slice(4));
      await stopAndWait(child, dataDir);
      return { baseStartMs: ms, baseQueryMs: queryMs };
    };
    // Alternate who goes first, so that neither always inherits a warmer page cache.
    let measured: Round;
    if (round % 2 === 1) {
      const p = await measureParley();
      measured = { ...p, ...(await measureBaseline()) };
    } else {
      const b = await measureBaseline();
      measured = { ...(await measureParley()), ...b };
    }
    rounds.push(measured);
    log(`round ${round}: start ${fmt(measured.startMs)} ms (baseline ${fmt(measured.baseStartMs)}), keys list ${fmt(measured.cliMs)} ms (baseline ${fmt(measured.baseQueryMs)})`);
  }

  const tsx: { startMs: number; cliMs: number }[] = [];
  for (let round = 1; round <= TSX_ROUNDS; round++) {
    const { child, ms } = await timeToFirstAnswer(parley(SOURCES), url, key);
    const cliMs = await timeCommand([...SOURCES, 'keys', 'list'], env, prefix);
    await stopAndWait(child, dataDir);
    tsx.push({ startMs: ms, cliMs });
    log(`tsx round ${round}: start ${fmt(ms)} ms, keys list ${fmt(cliMs)} ms`);
  }

  const startMet = rounds.every((r) => r.startMs <= START_TARGET_MS);
  const cliMet = rounds.every((r) => r.cliMs <= CLI_TARGET_MS);
  const median = (values: number[]) => percentile([...values].sort((x, y) => x - y), 50);
  const lines: string[] = [];
  lines.push(sectionTitle(startedAt, `start-up${LABEL ? ` — ${LABEL}` : ''}`), '');
  lines.push(machineLine(info));
  lines.push(`- Load average (1/5/15 min) at start: ${loadStart}; at end: ${loadavg()}`);
  lines.push(`- Warm start: the data dir initialised, PostgreSQL stopped; from spawning \`node dist/main.js serve\` (LOG_LEVEL=warn) to the first 200 on \`GET ${CONTACTS}\` with the key (polled every 5 ms on fresh connections)`);
  lines.push('- CLI: `node dist/main.js keys list` while that server runs, spawn to exit');
  lines.push(`- Baselines (\`${BASELINE}\`): \`pg_ctl start\` of the same data dir, one pool, an HTTP server answering with one pg query; and a bare \`node\` that connects and reads the keys`);
  lines.push('');
  lines.push('| round | warm start ms | baseline start ms | ratio | `keys list` ms | baseline query ms | ratio |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|');
  rounds.forEach((r, i) => {
    lines.push(`| ${i + 1} | ${fmt(r.startMs)} | ${fmt(r.baseStartMs)} | ${(r.startMs / r.baseStartMs).toFixed(2)} | ${fmt(r.cliMs)} | ${fmt(r.baseQueryMs)} | ${(r.cliMs / r.baseQueryMs).toFixed(2)} |`);
  });
  lines.push(
    `| median | ${fmt(median(rounds.map((r) => r.startMs)))} | ${fmt(median(rounds.map((r) => r.baseStartMs)))} | ${median(rounds.map((r) => r.startMs / r.baseStartMs)).toFixed(2)} | ${fmt(median(rounds.map((r) => r.cliMs)))} | ${fmt(median(rounds.map((r) => r.baseQueryMs)))} | ${median(rounds.map((r) => r.cliMs / r.baseQueryMs)).toFixed(2)} |`,
  );
  lines.push('');
  if (tsx.length > 0) {
    lines.push(`- The same through tsx (\`npm run dev\`, the sources compiled on the fly), for comparison: warm start ${tsx.map((r) => fmt(r.startMs)).join(', ')} ms; \`keys list\` ${tsx.map((r) => fmt(r.cliMs)).join(', ')} ms`);
  }
  lines.push(`- Warm start ≤ ${START_TARGET_MS} ms in every round: **${startMet ? 'met' : 'missed'}** (slowest ${fmt(Math.max(...rounds.map((r) => r.startMs)))} ms)`);
  lines.push(`- \`keys list\` ≤ ${CLI_TARGET_MS} ms in every round: **${cliMet ? 'met' : 'missed'}** (slowest ${fmt(Math.max(...rounds.map((r) => r.cliMs)))} ms)`);
  lines.push('');
  publish(lines.join('\n'), APPEND);
  if (!startMet || !cliMet) throw new Error('a start-up target was missed (see the section above)');
}

await runBenchmark(main, { timeoutMinutes: TIMEOUT_MINUTES, keepData: KEEP_DATA, logFiles: ['parley.log', 'baseline.log', 'postgres.log'] });
