// SQL for stored Meta webhook bodies.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export const META_EVENTS_CHANNEL = 'parley_meta_events';

/**
 * Stores bodies as received, in one INSERT (one commit). No NOTIFY here: PostgreSQL lets only
 * one notifying transaction commit at a time, which made every webhook request queue behind
 * the others. The route wakes the local worker in-process and other nodes by a throttled
 * NOTIFY (see server.ts); polling covers the rest.
 */
export async function storeEvents(db: Kysely<Database>, bodies: string[]): Promise<void> {
  if (bodies.length === 0) return;
  await db.insertInto('meta_events').values(bodies.map((body) => ({ body }))).execute();
}

/** Locks up to `limit` pending events for this transaction; other workers skip them. */
export async function lockPendingEvents(tx: Transaction<Database>, limit: number): Promise<{ id: number; body: string; attempts: number }[]> {
  const result = await sql<{ id: number; body: string; attempts: number }>`
    SELECT id, body, attempts FROM meta_events
    WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(tx);
  return result.rows;
}

export async function finishEvent(db: Executor, id: number, state: 'processed' | 'skipped' | 'failed', note: string | null): Promise<void> {
  await sql`UPDATE meta_events SET state = ${state}, note = ${note}, processed_at = now() WHERE id = ${id}`.execute(db);
}

/**
 * Counts a failed attempt; unless `final`, the next one waits `retryAfterSeconds`. The error is
 * stored without NUL (text cannot hold it), so the count itself cannot fail on it.
 */
export async function countAttempt(db: Executor, id: number, error: string, final: boolean, retryAfterSeconds = 0): Promise<void> {
  await sql`
    UPDATE meta_events SET attempts = attempts + 1, note = ${storableText(error, 1000)},
      next_attempt_at = now() + make_interval(secs => ${retryAfterSeconds}::float8),
      state = CASE WHEN ${final} THEN 'failed' ELSE state END,
      processed_at = CASE WHEN ${final} THEN now() ELSE processed_at END
    WHERE id = ${id}`.execute(db);
}

export async function countPendingEvents(db: Executor): Promise<number> {
  const result = await sql<{ n: number }>`SELECT count(*)::int AS n FROM meta_events WHERE state = 'pending'`.execute(db);
  return result.rows[0]!.n;
}

/** Meta bodies are kept 7 days after they were handled (to replay or inspect), then deleted. */
export async function purgeHandledEvents(db: Kysely<Database>): Promise<number> {
  const result = await sql`DELETE FROM meta_events WHERE state IN ('processed', 'skipped') AND processed_at < now() - interval '7 days'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
