// Runs the real `parley` command (`node --import tsx src/main.ts …`, or a compiled build) as child
// processes: servers that are awaited until "Parley is listening", one-shot CLI commands, and the
// embedded PostgreSQL they leave behind in a data directory. Everything started here is
// tracked so that `cleanupProcesses()` can kill it even when a test fails half-way.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const KEY = /prl_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}/;
const live = new Set<ChildProcess>();
const dataDirs = new Set<string>();

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ParleyProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited and its output is complete. */
  exited: Promise<Exit>;
  /** Resolves with the stdout so far once it matches; rejects on exit or timeout. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export interface ServerProcess extends ParleyProcess {
  url: string;
  /** The default project's key when this start printed one, else null. */
  firstKey: string | null;
}

/** The environment for a child: the parent's minus Parley settings, plus `overrides`. */
export function parleyEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['PORT', 'HOST', 'DATABASE_URL', 'PARLEY_DATA_DIR', 'LOG_LEVEL', 'LOG_FORMAT', 'PARLEY_RATE_LIMIT', 'PARLEY_JOB_POLL_MS']) delete env[name];
  return { ...env, LOG_LEVEL: 'info', ...overrides };
}

/** How a child runs Parley: the sources through tsx, unless a test names compiled JavaScript. */
const FROM_SOURCES = ['--import', 'tsx', 'src/main.ts'];

export function spawnParley(args: string[], env: Record<string, string>, entry: string[] = FROM_SOURCES): ParleyProcess {
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: root,
    env: parleyEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      // 'close' follows once the pipes are drained; do not wait for ever should a grandchild hold them.
      const done = () => resolve({ code, signal });
      const timer = setTimeout(done, 2_000);
      child.once('close', () => {
        clearTimeout(timer);
        done();
      });
    });
  });
  const waitForStdout = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (pattern.test(out)) {
          cleanup();
          resolve(out);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern} in stdout of parley ${args.join(' ')}\nstdout: ${out}\nstderr: ${err}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`parley ${args.join(' ')} exited before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.off('exit', onExit);
      };
      child.stdout!.on('data', check);
      child.once('exit', onExit);
      check();
      if (child.exitCode !== null || child.signalCode !== null) onExit();
    });
  return { child, stdout: () => out, stderr: () => err, exited, waitForStdout };
}

/** Starts `parley serve` and waits until it listens. */
export async function startParley(env: Record<string, string>): Promise<ServerProcess> {
  return awaitListening(spawnParley(['serve'], env));
}

/** Waits until a spawned `parley serve` listens; rejects when it exits first. */
export async function awaitListening(proc: ParleyProcess): Promise<ServerProcess> {
  let out = await proc.waitForStdout(/"msg":"Parley is listening"/);
  const line = out.split('\n').find((l) => l.includes('"msg":"Parley is listening"'))!;
  const { url, createdKey } = JSON.parse(line) as { url: string; createdKey?: boolean };
  // The key is printed right after that line, maybe in a later chunk.
  if (createdKey) out = await proc.waitForStdout(KEY);
  return { ...proc, url, firstKey: KEY.exec(out)?.[0] ?? null };
}

/** Runs a one-shot command to its end. */
export async function runParley(args: string[], env: Record<string, string>, timeoutMs = 60_000, entry = FROM_SOURCES): Promise<Exit & { stdout: string; stderr: string }> {
  const proc = spawnParley(args, env, entry);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { ...exit, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Sends a signal and waits for the exit. */
export async function stopParley(proc: ParleyProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  return proc.exited;
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

/** A fresh PARLEY_DATA_DIR (not yet created) under a temp folder the `postgres` user can enter. */
export function makeDataDir(): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-test-'));
  fs.chmodSync(parent, 0o755);
  const dataDir = path.join(parent, 'data');
  dataDirs.add(dataDir);
  return dataDir;
}

/** Whether the process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !fs.existsSync('/proc/self'); // no procfs: trust kill(0)
  }
}

/** pg_ctl stop returns once postmaster.pid is gone, a moment before the process itself ends. */
export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<boolean> {
  return waitFor(() => !isAlive(pid), `process ${pid} to end`, timeoutMs).then(
    () => true,
    () => false,
  );
}

/** The pid and port in pg/postmaster.pid, or null when there is no such file. */
export function postmaster(dataDir: string): { pid: number; port: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  return { pid: Number(lines[0]), port: Number(lines[3]) };
}

/** The pid of a live postmaster of this data directory, else null. */
export function livePostmaster(dataDir: string): number | null {
  const found = postmaster(dataDir);
  return found && found.pid > 0 && isAlive(found.pid) ? found.pid : null;
}

/** URL of the embedded database as the superuser, for tests that look inside it. */
export function embeddedUrl(dataDir: string, database = 'parley'): string {
  const password = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
  const found = postmaster(dataDir);
  if (!found) throw new Error(`no postmaster in ${dataDir}`);
  return `postgres://parley:${encodeURIComponent(password)}@127.0.0.1:${found.port}/${database}`;
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface HttpResponse {
  status: number;
  body: any;
}

/** One request on a fresh connection (no keep-alive pool whose sockets a stopping server closes). */
export function request(url: string, options: { method?: string; key?: string; body?: unknown } = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {};
    if (options.key) headers['x-api-key'] = options.key;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Kills every process started here that still runs, and every postmaster left in our data dirs. */
export async function cleanupProcesses(): Promise<void> {
  await Promise.all(
    [...live].map((child) => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return gone;
    }),
  );
  for (const dataDir of dataDirs) {
    const pid = livePostmaster(dataDir);
    if (pid !== null) {
      process.kill(pid, 'SIGINT'); // fast shutdown
      await waitFor(() => !isAlive(pid), `postmaster ${pid} to stop`, 30_000).catch(() => process.kill(pid, 'SIGKILL'));
    }
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  }
  dataDirs.clear();
}
