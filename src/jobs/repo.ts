// SQL for the durable job queue: rows claimed with FOR UPDATE SKIP LOCKED under a lease, so any
// number of nodes can work the same table and a job held by a crashed worker comes back.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export const JOBS_CHANNEL = 'parley_jobs';

export interface ClaimedJob {
  id: string;
  kind: string;
  payload: unknown;
  attempts: number;
  last_error: string | null;
}

/** Queues a job inside the caller's transaction: it exists exactly when that change commits. */
export async function enqueueJob(db: Executor, kind: string, payload: Record<string, unknown>, runAt?: Date): Promise<void> {
  await db
    .insertInto('jobs')
    .values({ kind, payload: JSON.stringify(payload), run_at: runAt ?? sql<string>`now()` as never })
    .execute();
  await sql`SELECT pg_notify(${JOBS_CHANNEL}, ${kind})`.execute(db);
}

export async function claimDueJobs(db: Executor, kinds: string[], limit: number, leaseSeconds: number): Promise<ClaimedJob[]> {
  const result = await sql<ClaimedJob>`
    UPDATE jobs SET attempts = attempts + 1, locked_until = now() + make_interval(secs => ${leaseSeconds})
    WHERE id IN (
      SELECT id FROM jobs
      WHERE failed_at IS NULL AND run_at <= now() AND (locked_until IS NULL OR locked_until < now())
        AND kind = ANY(${kinds}::text[])
      ORDER BY run_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING id, kind, payload, attempts, last_error`.execute(db);
  return result.rows;
}

export async function completeJob(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('jobs').where('id', '=', id).execute();
}

/** Schedules another attempt after `delaySeconds`, or gives up for good when `final`. */
export async function failJob(db: Executor, id: string, error: string, delaySeconds: number, final: boolean): Promise<void> {
  await db
    .updateTable('jobs')
    .set({
      last_error: storableText(error),
      locked_until: null,
      run_at: sql`now() + make_interval(secs => ${delaySeconds})`,
      failed_at: final ? sql`now()` : null,
    })
    .where('id', '=', id)
    .execute();
}

export async function countPendingJobs(db: Executor, kind: string): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kind', '=', kind)
    .where('failed_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
