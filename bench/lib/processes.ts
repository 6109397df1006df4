// Child processes of a benchmark run and the cleanup that stops them: every child gets its own
// process group (a Ctrl-C reaches only the orchestrator, which then stops the children in order),
// pools are ended, the embedded PostgreSQL is shut down if Parley left it running, and the run's
// data directory is removed. runBenchmark() wires this to errors, signals and a watchdog.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type pg from 'pg';

export const BENCH_DIR = path.resolve(import.meta.dirname, '..');
export const ROOT = path.resolve(BENCH_DIR, '..');
export const DATA_ROOT = path.join(BENCH_DIR, '.data');

export const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
}

/** What cleanup() has to stop; filled in as the run goes. */
const state: { children: Child[]; pools: pg.Pool[]; dataDir: string | null; load: { stop(): void } | null; keepData: boolean } = {
  children: [],
  pools: [],
  dataDir: null,
  load: null,
  keepData: false,
};
let cleaning: Promise<void> | null = null;

/** Ended (before the children stop) by cleanup(). */
export const trackPool = (pool: pg.Pool) => void state.pools.push(pool);
/** The run's data directory: removed by cleanup() unless BENCH_KEEP_DATA=1. */
export const setDataDir = (dir: string) => void (state.dataDir = dir);
export const dataDir = () => state.dataDir;
/** The load generator running now (stopped first by cleanup()), or null. */
export const setCurrentLoad = (load: { stop(): void } | null) => void (state.load = load);

export function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Child {
  const out = fs.openSync(logFile, 'a');
  // Own process group: a Ctrl-C reaches only this orchestrator, which then stops the children in order.
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child = { name, proc, exited };
  state.children.push(child);
  return child;
}

export async function stopChild(child: Child, graceMs: number): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([child.exited.then(() => 'exited' as const), timer])) === 'timeout') {
    log(`${child.name} did not stop within ${graceMs} ms: SIGKILL`);
    child.proc.kill('SIGKILL');
    await child.exited;
  }
}

/** The pid of the embedded postmaster of a Parley data dir, when it is running. */
export function postmasterPid(dir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

export async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    state.load?.stop();
    await Promise.allSettled(state.pools.map((pool) => pool.end()));
    // The helpers first, then Parley, which stops its embedded PostgreSQL on SIGTERM.
    for (const child of [...state.children].reverse()) await stopChild(child, child.name === 'parley' ? 90_000 : 5_000).catch(() => undefined);
    const dir = state.dataDir;
    if (dir) {
      const pid = postmasterPid(dir);
      if (pid !== null) {
        log(`embedded PostgreSQL (pid ${pid}) still running: fast shutdown`);
        process.kill(pid, 'SIGINT');
        for (let i = 0; i < 120 && postmasterPid(dir) !== null; i++) await sleep(500);
      }
      if (!state.keepData && postmasterPid(dir) === null) fs.rmSync(dir, { recursive: true, force: true });
      else log(`data left in ${dir}`);
    }
  })();
  return cleaning;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(child: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode} while starting`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms`);
}

/**
 * Runs a benchmark's main() with cleanup on every way out: success, error (with the tails of the
 * children's logs), SIGINT/SIGTERM (exit 130) and the watchdog (exit 3). Never returns.
 */
export async function runBenchmark(main: () => Promise<void>, options: { timeoutMinutes: number; keepData: boolean; logFiles: string[] }): Promise<never> {
  state.keepData = options.keepData;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    log(`BENCH_TIMEOUT_MINUTES (${options.timeoutMinutes}) reached: stopping`);
    void cleanup().finally(() => process.exit(3));
  }, options.timeoutMinutes * 60_000);
  watchdog.unref();

  let exitCode = 0;
  try {
    await main();
  } catch (error) {
    exitCode = 1;
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    const dir = state.dataDir;
    if (dir) {
      for (const file of options.logFiles) {
        const full = path.join(dir, file);
        if (fs.existsSync(full)) log(`${file} (tail):\n${fs.readFileSync(full, 'utf8').split('\n').slice(-20).join('\n')}`);
      }
    }
  } finally {
    await cleanup();
  }
  process.exit(exitCode);
}
