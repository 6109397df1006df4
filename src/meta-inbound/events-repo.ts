// SQL for stored Meta webhook bodies.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export const META_EVENTS_CHANNEL = 'parley_meta_events';

/** Stores a body as received and wakes the workers; the 200 to Meta follows this commit. */
export async function storeEvent(db: Kysely<Database>, body: string): Promise<number> {
  const result = await sql<{ id: number }>`
    WITH stored AS (INSERT INTO meta_events (body) VALUES (${body}) RETURNING id)
    SELECT id, pg_notify(${META_EVENTS_CHANNEL}, id::text) FROM stored`.execute(db);
  return Number(result.rows[0]!.id);
}

/** Locks up to `limit` pending events for this transaction; other workers skip them. */
export async function lockPendingEvents(tx: Transaction<Database>, limit: number): Promise<{ id: number; body: string; attempts: number }[]> {
  const result = await sql<{ id: number; body: string; attempts: number }>`
    SELECT id, body, attempts FROM meta_events WHERE state = 'pending' ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(tx);
  return result.rows;
}

export async function finishEvent(db: Executor, id: number, state: 'processed' | 'skipped' | 'failed', note: string | null): Promise<void> {
  await sql`UPDATE meta_events SET state = ${state}, note = ${note}, processed_at = now() WHERE id = ${id}`.execute(db);
}

export async function countAttempt(db: Executor, id: number, error: string, final: boolean): Promise<void> {
  await sql`
    UPDATE meta_events SET attempts = attempts + 1, note = ${error.slice(0, 1000)},
      state = CASE WHEN ${final} THEN 'failed' ELSE state END,
      processed_at = CASE WHEN ${final} THEN now() ELSE processed_at END
    WHERE id = ${id}`.execute(db);
}

export async function countPendingEvents(db: Executor): Promise<number> {
  const result = await sql<{ n: number }>`SELECT count(*)::int AS n FROM meta_events WHERE state = 'pending'`.execute(db);
  return result.rows[0]!.n;
}
