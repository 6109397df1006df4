// Opens the database Parley runs on: the server at DATABASE_URL, or the embedded PostgreSQL in
// the data directory. Migrations and first-start bootstrap happen under the schema lock.
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createDb, createPool } from './connection.ts';
import { type EmbeddedDatabase, type EmbeddedOptions, type EmbeddedRole, openEmbeddedDatabase } from './embedded.ts';
import { pgErrorCode } from './errors.ts';
import { DatabaseHealth } from './health.ts';
import { migrateToLatest, withSchemaLock } from './migrate.ts';
import type { Database } from './schema.ts';

export interface OpenDatabase {
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  /** Whether the database answers (`health.state`, 'state' events); every lost connection reports here. */
  health: DatabaseHealth;
  /** The embedded PostgreSQL when this process uses one (`embedded.state`), else null. */
  embedded: EmbeddedDatabase | null;
  /** Closes the pool and, when this process is responsible for it, stops the embedded server. */
  close(): Promise<void>;
}

export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  role: EmbeddedRole,
  logger: Logger,
  poolMax?: number,
  embeddedOptions: EmbeddedOptions = {},
): Promise<OpenDatabase> {
  const embedded = config.databaseUrl === null ? await openEmbeddedDatabase(config.dataDir, role, logger, embeddedOptions) : null;
  const url = config.databaseUrl ?? embedded!.url;
  let health: DatabaseHealth | null = null;
  const pool = createPool(url, {
    max: poolMax,
    onConnectionError: (error) => {
      embedded?.supervisor?.check();
      health?.report(error);
    },
  });
  const db = createDb(pool);
  try {
    if (config.databaseUrl !== null) await checkConnection(pool, config.databaseUrl);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
  // A server's embedded PostgreSQL has a supervisor that logs its outage and its end: one line each.
  health = new DatabaseHealth(() => probe(url), logger, embedded ? 'the embedded PostgreSQL' : 'the database', embedded?.supervisor ? 'debug' : 'info');
  return {
    url,
    pool,
    db,
    health: health as DatabaseHealth,
    embedded,
    async close() {
      health?.close();
      await db.destroy();
      await embedded?.release();
    },
  };
}

/** A connection of its own: an idle pooled one may have been ended without the pool knowing yet. */
async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'parley-health' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The first connection to DATABASE_URL, with an error that says what to change when it fails. */
async function checkConnection(pool: pg.Pool, databaseUrl: string): Promise<void> {
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    throw new Error(explainConnectError(error, databaseUrl), { cause: error });
  }
}

/** One sentence naming the cause and DATABASE_URL; never the password. */
export function explainConnectError(error: unknown, databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const host = url.hostname || 'localhost';
  const where = `${host}:${url.port || '5432'}`;
  const role = decodeURIComponent(url.username) || '(the OS user name)';
  const database = decodeURIComponent(url.pathname.slice(1)) || role;
  const first = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const code = pgErrorCode(first) ?? pgErrorCode(error);
  const message = first instanceof Error ? first.message : String(first);
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot connect to PostgreSQL at ${where}: connection refused (is it running there?); check DATABASE_URL`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `cannot connect to PostgreSQL: unknown host "${host}"; check the host in DATABASE_URL`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to PostgreSQL at ${where}: ${message}; check the host and port in DATABASE_URL`;
    case '28P01':
      return `PostgreSQL at ${where} refused the password of role "${role}"; check the user and password in DATABASE_URL`;
    case '28000':
      return `PostgreSQL at ${where} refused role "${role}" (${message}); check the user in DATABASE_URL`;
    case '3D000':
      return `PostgreSQL at ${where} has no database "${database}"; create it (createdb ${database}) or change DATABASE_URL`;
    default:
      if (/timeout/i.test(message)) return `PostgreSQL at ${where} did not answer in time; check the host and port in DATABASE_URL`;
      return `cannot connect to PostgreSQL at ${where}: ${message || code || 'unknown error'}; check DATABASE_URL`;
  }
}

/** Applies pending migrations, then runs `afterwards` while still holding the schema lock. */
export async function prepareSchema<T>(db: Kysely<Database>, logger: Logger, afterwards: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return withSchemaLock(db, async (locked) => {
    const applied = await migrateToLatest(locked);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    return afterwards(locked);
  });
}
