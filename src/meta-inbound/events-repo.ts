// SQL for stored Meta webhook bodies.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';
import { LANE_LOCK_CLASS, SENDER_LANES } from './sender-lane.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export const META_EVENTS_CHANNEL = 'parley_meta_events';

/**
 * Stores bodies as received, in one INSERT (one commit). No NOTIFY here: PostgreSQL lets only
 * one notifying transaction commit at a time, which made every webhook request queue behind
 * the others. The route wakes the local worker in-process and other nodes by a throttled
 * NOTIFY (see server.ts); polling covers the rest.
 */
export async function storeEvents(db: Kysely<Database>, bodies: { body: string; lane: number | null }[]): Promise<void> {
  if (bodies.length === 0) return;
  await db.insertInto('meta_events').values(bodies).execute();
}

/** Locks up to `limit` pending events for this transaction; other workers skip them. */
export async function lockPendingEvents(tx: Transaction<Database>, limit: number): Promise<{ id: number; body: string; attempts: number }[]> {
  const result = await sql<{ id: number; body: string; attempts: number }>`
    SELECT id, body, attempts FROM meta_events
    WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(tx);
  return result.rows;
}

/**
 * The lanes this transaction now holds: tried in the given order until `most` are held; none
 * when a mixed body (no lane) is due, which the caller then takes with every lane
 * (lockAllLanes). Try-locks never wait, so loops taking lanes cannot deadlock.
 */
export async function tryLanes(tx: Transaction<Database>, lanes: readonly number[], most: number): Promise<{ mixedDue: boolean; held: number[] }> {
  const result = await sql<{ mixed_due: boolean; held: number[] | null }>`
    WITH mixed AS (
      SELECT EXISTS (SELECT 1 FROM meta_events
        WHERE state = 'pending' AND lane IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())) AS due)
    SELECT mixed.due AS mixed_due,
      CASE WHEN mixed.due THEN NULL
        -- No ORDER BY: a sort would try every lane before the LIMIT; unnest yields in order.
        ELSE ARRAY(SELECT l FROM unnest(${lanes as number[]}::int[]) AS l
                   WHERE pg_try_advisory_xact_lock(${LANE_LOCK_CLASS}, l) LIMIT ${most}) END AS held
    FROM mixed`.execute(tx);
  const row = result.rows[0]!;
  return { mixedDue: row.mixed_due, held: row.held ?? [] };
}

/**
 * Waits for every lane, in lane order (so two loops doing this cannot deadlock, and a loop that
 * only tries locks cannot take a lane from under a waiting one).
 */
export async function lockAllLanes(tx: Transaction<Database>): Promise<void> {
  await sql`SELECT count(pg_advisory_xact_lock(${LANE_LOCK_CLASS}, l)) FROM generate_series(0, ${SENDER_LANES - 1}) AS l`.execute(tx);
}

/** Like lockPendingEvents, among the bodies of the given lanes only (the caller holds them). */
export async function lockPendingLaneEvents(tx: Transaction<Database>, lanes: readonly number[], limit: number): Promise<{ id: number; body: string; attempts: number }[]> {
  const result = await sql<{ id: number; body: string; attempts: number }>`
    SELECT id, body, attempts FROM meta_events
    WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now()) AND lane = ANY (${lanes as number[]}::smallint[])
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
