// SQL of the cluster-wide rate limit: one row per (key, minute) counting the tokens handed to
// nodes, taken in small batches by one atomic upsert, handed back when a node stops using them.
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * A batch is at most this fraction of what the window has left: a node holding tokens it will
 * not use (quiet, or killed) keeps at most 1/16 of the remainder from the others.
 */
const REMAINDER_DIVISOR = 16;

export interface Grant {
  /** Tokens handed to this node now (0: the window is spent). */
  granted: number;
  /** Tokens handed to all nodes in the window so far, this grant included. */
  taken: number;
}

/**
 * Takes up to `want` tokens of `limit` for (`keyPrefix`, `window`). The row lock of the upsert
 * serialises nodes, so the tokens handed out in a window never exceed `limit`.
 */
export async function takeTokens(db: Kysely<Database>, keyPrefix: string, window: number, want: number, limit: number): Promise<Grant> {
  const result = await sql<{ taken: number; last_grant: number }>`
    INSERT INTO rate_limit_windows AS w (key_prefix, window_minute, taken, last_grant)
    VALUES (${keyPrefix}, ${window}, LEAST(${want}::int, GREATEST(${limit}::int / ${REMAINDER_DIVISOR}, 1), ${limit}::int), LEAST(${want}::int, GREATEST(${limit}::int / ${REMAINDER_DIVISOR}, 1), ${limit}::int))
    ON CONFLICT (key_prefix, window_minute) DO UPDATE SET
      taken = w.taken + LEAST(${want}::int, GREATEST((${limit}::int - w.taken) / ${REMAINDER_DIVISOR}, 1), GREATEST(${limit}::int - w.taken, 0)),
      last_grant = LEAST(${want}::int, GREATEST((${limit}::int - w.taken) / ${REMAINDER_DIVISOR}, 1), GREATEST(${limit}::int - w.taken, 0))
    RETURNING taken, last_grant`.execute(db);
  const row = result.rows[0]!;
  return { granted: row.last_grant, taken: row.taken };
}

/** Gives `count` unused tokens of a window back, so that other nodes may use them. */
export async function returnTokens(db: Kysely<Database>, keyPrefix: string, window: number, count: number): Promise<void> {
  await sql`UPDATE rate_limit_windows SET taken = GREATEST(taken - ${count}::int, 0) WHERE key_prefix = ${keyPrefix} AND window_minute = ${window}`.execute(db);
}

/** Deletes the rows of windows that ended before the previous minute; returns how many. */
export async function purgeOldRateLimitWindows(db: Kysely<Database>, now: Date): Promise<number> {
  const current = Math.floor(now.getTime() / 60_000);
  const result = await sql`DELETE FROM rate_limit_windows WHERE window_minute < ${current - 1}`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
