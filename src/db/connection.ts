// One pg pool per process, wrapped by Kysely. Timestamps travel as text so that the
// microseconds PostgreSQL stores reach the wire intact (a JS Date keeps only milliseconds).
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID) return (value: string) => value;
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Told about every lost connection and every failed attempt to open one. */
  onConnectionError?: (error: Error) => void;
}

/** How long a request waits for a connection (a free one, or a new one) before it gets a 503. */
const CONNECT_TIMEOUT_MS = 10_000;

export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 20,
    types,
    // UTC sessions make the text form of timestamptz end in +00, which the formatter expects.
    options: '-c TimeZone=UTC',
    application_name: options.applicationName ?? 'parley',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  const report = options.onConnectionError ?? (() => undefined);
  // The pool listens for errors only on idle clients: a checked-out client whose connection is
  // ended (pg_terminate_backend, a restart, a fail-over) would emit 'error' with no listener and
  // take the process down. Its query fails on its own, and the pool drops the client on release.
  pool.on('connect', (client) => client.on('error', report));
  pool.on('error', report);
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  pool.connect = ((callback?: unknown) => {
    if (callback) return (connect as unknown as (cb: unknown) => void)(callback);
    return connect().catch((error: Error) => {
      report(error);
      throw error;
    });
  }) as typeof pool.connect;
  return pool;
}

export function createDb(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** `2025-03-26 15:05:00.12+00` → `2025-03-26T15:05:00.120000Z` (always six fraction digits). */
export function isoMicros(value: string): string {
  const match = /^(\d{4,}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/.exec(value);
  if (!match) return new Date(value).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(6, '0')}Z`;
}
