// Migrations run at start (and by `parley migrate`) under a session advisory lock, so several
// nodes starting at once apply each migration exactly once and none serves an old schema.
import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import type { Database } from './schema.ts';
import * as m0001 from './migrations/0001_foundation.ts';
import * as m0002 from './migrations/0002_inbound_whatsapp.ts';
import * as m0003 from './migrations/0003_outbound_webhooks.ts';
import * as m0004 from './migrations/0004_inbound_batch.ts';
import * as m0005 from './migrations/0005_background_retries.ts';
import * as m0006 from './migrations/0006_idempotency_headers.ts';
import * as m0007 from './migrations/0007_sending.ts';
import * as m0008 from './migrations/0008_media.ts';
import * as m0009 from './migrations/0009_api_logs.ts';
import * as m0010 from './migrations/0010_rate_limits.ts';
import * as m0011 from './migrations/0011_outbox_without_notify.ts';
import * as m0012 from './migrations/0012_inbound_lanes.ts';
import * as m0014 from './migrations/0014_send_path.ts';
import * as m0015 from './migrations/0015_send_batches.ts';
import * as m0016 from './migrations/0016_api_log_writes.ts';

const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_inbound_whatsapp': m0002,
  '0003_outbound_webhooks': m0003,
  '0004_inbound_batch': m0004,
  '0005_background_retries': m0005,
  '0006_idempotency_headers': m0006,
  '0007_sending': m0007,
  '0008_media': m0008,
  '0009_api_logs': m0009,
  '0010_rate_limits': m0010,
  '0011_outbox_without_notify': m0011,
  '0012_inbound_lanes': m0012,
  '0014_send_path': m0014,
  '0015_send_batches': m0015,
  '0016_api_log_writes': m0016,
};

/** Arbitrary constant shared by every Parley node: the key of the schema advisory lock. */
const SCHEMA_LOCK = 727_001;

export async function withSchemaLock<T>(db: Kysely<Database>, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${SCHEMA_LOCK})`.execute(conn);
    try {
      return await work(conn);
    } finally {
      await sql`SELECT pg_advisory_unlock(${SCHEMA_LOCK})`.execute(conn);
    }
  });
}

/** Applies pending migrations; returns the names applied by this call. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'parley_migrations',
    migrationLockTableName: 'parley_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
