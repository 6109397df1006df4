// Opens the database Parley runs on: the server at DATABASE_URL, or the embedded PostgreSQL in
// the data directory. Migrations and first-start bootstrap happen under the schema lock.
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createDb, createPool } from './connection.ts';
import { type EmbeddedRole, openEmbeddedDatabase } from './embedded.ts';
import { migrateToLatest, withSchemaLock } from './migrate.ts';
import type { Database } from './schema.ts';

export interface OpenDatabase {
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  /** Closes the pool and, when this process is responsible for it, stops the embedded server. */
  close(): Promise<void>;
}

export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>, role: EmbeddedRole, logger: Logger, poolMax?: number): Promise<OpenDatabase> {
  const embedded = config.databaseUrl === null ? await openEmbeddedDatabase(config.dataDir, role, logger) : null;
  const url = config.databaseUrl ?? embedded!.url;
  const pool = createPool(url, { max: poolMax });
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
  const db = createDb(pool);
  return {
    url,
    pool,
    db,
    async close() {
      await db.destroy();
      await embedded?.release();
    },
  };
}

/** Applies pending migrations, then runs `afterwards` while still holding the schema lock. */
export async function prepareSchema<T>(db: Kysely<Database>, logger: Logger, afterwards: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return withSchemaLock(db, async (locked) => {
    const applied = await migrateToLatest(locked);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    return afterwards(locked);
  });
}
