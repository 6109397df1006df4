// A database of this test file's own, cloned from the migrated template that test/run.ts made.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDb, createPool } from '../../src/db/connection.ts';
import type { Database } from '../../src/db/schema.ts';

export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  drop(): Promise<void>;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with "npm test"`);
  return value;
}

export function adminUrl(): string {
  return env('PARLEY_TEST_ADMIN_URL');
}

export function urlFor(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database, migrated when `migrated` (the default) is true. */
export async function createTestDatabase(options: { migrated?: boolean; poolMax?: number } = {}): Promise<TestDatabase> {
  const name = `parley_t_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : env('PARLEY_TEST_TEMPLATE');
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const url = urlFor(name);
  const pool = createPool(url, { max: options.poolMax ?? 10 });
  // The DROP … WITH (FORCE) at the end of a file ends any connection still open; an idle client
  // reporting that must not crash the file (the server registers the same kind of listener).
  pool.on('error', () => undefined);
  const db = createDb(pool);
  return {
    url,
    name,
    pool,
    db,
    async drop() {
      await db.destroy();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
