// Sender lanes for inbound bodies (src/meta-inbound/sender-lane.ts): the lane of a body's one
// user, set at acceptance, so several worker loops can share the queue without two of them
// holding the same user's bodies at once. NULL: a body with several users or none, or one
// stored before this migration; those are processed only by a loop holding every lane.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Nullable without a default: adding it rewrites nothing, and older rows read as "mixed".
  await sql`ALTER TABLE meta_events ADD COLUMN lane smallint`.execute(db);
  // Each batch first asks whether a mixed body is due; this keeps that question cheap.
  await sql`CREATE INDEX meta_events_pending_mixed_idx ON meta_events (id) WHERE state = 'pending' AND lane IS NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS meta_events_pending_mixed_idx`.execute(db);
  await sql`ALTER TABLE meta_events DROP COLUMN IF EXISTS lane`.execute(db);
}
