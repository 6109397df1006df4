// Queue depths and ages, read from the database when Prometheus scrapes. One statement, each part
// answered by a partial index (meta_events_pending_idx, webhook_events_pending_idx / _dead_idx,
// webhook_deliveries_due_idx / _age_idx, jobs_due_idx), counts capped so that a huge backlog
// costs no more than COUNT_CAP index entries, and a statement timeout so that a slow database
// cannot hold the scrape.
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.ts';

/** Counts stop at this many rows: past it the exact number says nothing more to an alert. */
export const COUNT_CAP = 100_000;

/** Failed deliveries are counted over this window (the table keeps them for the deliveries log). */
export const FAILED_WINDOW_HOURS = 24;

export interface QueueSample {
  queue: 'inbound_events' | 'outbox_events' | 'webhook_deliveries' | 'jobs';
  state: 'pending' | 'failed';
  count: number;
  /** Seconds since the oldest item of this queue and state has been waiting; null when the queue is empty or age does not apply. */
  oldestAgeSeconds: number | null;
}

interface Row {
  inbound_pending: number;
  inbound_age: number | null;
  outbox_pending: number;
  outbox_age: number | null;
  outbox_dead: number;
  deliveries_pending: number;
  deliveries_age: number | null;
  deliveries_failed: number;
  jobs_pending: number;
  jobs_age: number | null;
  jobs_failed: number;
}

const seconds = (value: unknown): number | null => (value === null || value === undefined ? null : Math.max(0, Number(value)));

/** Reads every queue in one round trip; rejects when the database does not answer within `timeoutMs`. */
export async function readQueues(db: Kysely<Database>, timeoutMs: number): Promise<QueueSample[]> {
  const work = db.transaction().execute(async (trx) => {
    // SET LOCAL: the timeout ends with this transaction and never leaks into the pooled connection.
    await sql`SELECT set_config('statement_timeout', ${String(timeoutMs)}, true)`.execute(trx);
    const { rows } = await sql<Row>`
      SELECT
        (SELECT count(*) FROM (SELECT 1 FROM meta_events WHERE state = 'pending' LIMIT ${COUNT_CAP}) s) AS inbound_pending,
        (SELECT extract(epoch FROM now() - received_at) FROM meta_events WHERE state = 'pending' ORDER BY id LIMIT 1) AS inbound_age,
        (SELECT count(*) FROM (SELECT 1 FROM webhook_events WHERE dispatched_at IS NULL AND dead_at IS NULL LIMIT ${COUNT_CAP}) s) AS outbox_pending,
        (SELECT extract(epoch FROM now() - min(created_at)) FROM webhook_events WHERE dispatched_at IS NULL AND dead_at IS NULL) AS outbox_age,
        (SELECT count(*) FROM (SELECT 1 FROM webhook_events WHERE dead_at IS NOT NULL LIMIT ${COUNT_CAP}) s) AS outbox_dead,
        (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' LIMIT ${COUNT_CAP}) s) AS deliveries_pending,
        (SELECT extract(epoch FROM now() - min(next_attempt_at)) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()) AS deliveries_age,
        (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries
           WHERE created_at > now() - make_interval(hours => ${FAILED_WINDOW_HOURS}) AND status = 'failed' LIMIT ${COUNT_CAP}) s) AS deliveries_failed,
        (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE failed_at IS NULL LIMIT ${COUNT_CAP}) s) AS jobs_pending,
        (SELECT extract(epoch FROM now() - min(run_at)) FROM jobs WHERE failed_at IS NULL AND run_at <= now()) AS jobs_age,
        (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE failed_at IS NOT NULL LIMIT ${COUNT_CAP}) s) AS jobs_failed
    `.execute(trx);
    return rows[0]!;
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    // Also bounds the wait for a pooled connection, which statement_timeout cannot.
    timer = setTimeout(() => reject(new Error(`queue metrics: no answer from the database within ${timeoutMs} ms`)), timeoutMs);
  });
  work.catch(() => undefined); // a late failure after the deadline must not become an unhandled rejection
  try {
    const row = await Promise.race([work, deadline]);
    return [
      { queue: 'inbound_events', state: 'pending', count: Number(row.inbound_pending), oldestAgeSeconds: seconds(row.inbound_age) },
      { queue: 'outbox_events', state: 'pending', count: Number(row.outbox_pending), oldestAgeSeconds: seconds(row.outbox_age) },
      // Events the dispatcher set aside after their last attempt: they stay until someone deletes them.
      { queue: 'outbox_events', state: 'failed', count: Number(row.outbox_dead), oldestAgeSeconds: null },
      { queue: 'webhook_deliveries', state: 'pending', count: Number(row.deliveries_pending), oldestAgeSeconds: seconds(row.deliveries_age) },
      { queue: 'webhook_deliveries', state: 'failed', count: Number(row.deliveries_failed), oldestAgeSeconds: null },
      { queue: 'jobs', state: 'pending', count: Number(row.jobs_pending), oldestAgeSeconds: seconds(row.jobs_age) },
      { queue: 'jobs', state: 'failed', count: Number(row.jobs_failed), oldestAgeSeconds: null },
    ];
  } finally {
    clearTimeout(timer);
  }
}
