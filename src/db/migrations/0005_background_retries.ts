// Background items that fail wait before their next try, and are set aside after the last one.
// Outbox events that cannot be dispatched: each failure is counted with its error and the event
// waits (next_attempt_at) before its next try; after the last try it is set aside (dead_at) with
// its error, where an operator can read it, and the dispatcher no longer reads it.
// Stored Meta bodies whose processing failed wait (next_attempt_at) before their next attempt,
// instead of being retried at once until their attempts are spent.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_events
      ADD COLUMN attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN last_error text,
      ADD COLUMN next_attempt_at timestamptz,
      ADD COLUMN dead_at timestamptz`.execute(db);
  await sql`DROP INDEX webhook_events_pending_idx`.execute(db);
  await sql`CREATE INDEX webhook_events_pending_idx ON webhook_events (created_at) WHERE dispatched_at IS NULL AND dead_at IS NULL`.execute(db);
  await sql`CREATE INDEX webhook_events_dead_idx ON webhook_events (dead_at) WHERE dead_at IS NOT NULL`.execute(db);
  await sql`ALTER TABLE meta_events ADD COLUMN next_attempt_at timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE meta_events DROP COLUMN next_attempt_at`.execute(db);
  await sql`DROP INDEX webhook_events_dead_idx`.execute(db);
  await sql`DROP INDEX webhook_events_pending_idx`.execute(db);
  await sql`CREATE INDEX webhook_events_pending_idx ON webhook_events (created_at) WHERE dispatched_at IS NULL`.execute(db);
  await sql`ALTER TABLE webhook_events DROP COLUMN attempts, DROP COLUMN last_error, DROP COLUMN next_attempt_at, DROP COLUMN dead_at`.execute(db);
}
