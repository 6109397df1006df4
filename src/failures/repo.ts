// SQL for the items background workers set aside with their error: dead outbox events, failed
// Meta bodies, jobs that failed for good and failed webhook deliveries. Read-only.
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.ts';

export type FailureKind = 'outbox' | 'meta' | 'jobs' | 'deliveries';

export interface FailureRow {
  /** When it was set aside, UTC, to the second. */
  at: string;
  /** Event name, Meta event id, job kind or webhook URL. */
  what: string;
  /** Name of the row's project; null for rows that have none (jobs, Meta bodies). */
  project: string | null;
  attempts: number;
  error: string | null;
}

export interface FailureGroup {
  kind: FailureKind;
  /** All such rows in the window, however many are listed. */
  count: number;
  /** The newest `limit` of them, newest first. */
  rows: FailureRow[];
}

export interface FailureQuery {
  limit: number;
  /** Only rows set aside within this many seconds; null: all of them. */
  sinceSeconds: number | null;
}

interface CountedRow extends FailureRow {
  total: number;
}

/** The four kinds in a fixed order, each with its count and newest rows. */
export async function listFailures(db: Kysely<Database>, query: FailureQuery): Promise<FailureGroup[]> {
  const since = query.sinceSeconds;
  // One window for every kind: the cut-off is computed once by the database.
  const inWindow = (column: ReturnType<typeof sql.ref>) =>
    since === null ? sql`TRUE` : sql`${column} >= now() - make_interval(secs => ${since}::float8)`;
  const at = (column: ReturnType<typeof sql.ref>) => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')`;
  const limit = query.limit;

  const outbox = sql<CountedRow>`
    SELECT ${at(sql.ref('e.dead_at'))} AS at, e.event AS what, p.name AS project, e.attempts, e.last_error AS error,
      count(*) OVER ()::int AS total
    FROM webhook_events e JOIN projects p ON p.id = e.project_id
    WHERE e.dead_at IS NOT NULL AND ${inWindow(sql.ref('e.dead_at'))}
    ORDER BY e.dead_at DESC, e.id DESC LIMIT ${limit}`;
  const meta = sql<CountedRow>`
    SELECT ${at(sql.ref('m.failed'))} AS at, 'meta event ' || m.id AS what, NULL::text AS project, m.attempts, m.note AS error,
      count(*) OVER ()::int AS total
    FROM (SELECT *, coalesce(processed_at, received_at) AS failed FROM meta_events WHERE state = 'failed') m
    WHERE ${inWindow(sql.ref('m.failed'))}
    ORDER BY m.failed DESC, m.id DESC LIMIT ${limit}`;
  const jobs = sql<CountedRow>`
    SELECT ${at(sql.ref('j.failed_at'))} AS at, j.kind AS what, NULL::text AS project, j.attempts, j.last_error AS error,
      count(*) OVER ()::int AS total
    FROM jobs j
    WHERE j.failed_at IS NOT NULL AND ${inWindow(sql.ref('j.failed_at'))}
    ORDER BY j.failed_at DESC, j.id DESC LIMIT ${limit}`;
  const deliveries = sql<CountedRow>`
    SELECT ${at(sql.ref('d.failed'))} AS at, d.webhook_url AS what, p.name AS project, d.attempt_count AS attempts,
      d.last_error AS error, count(*) OVER ()::int AS total
    FROM (SELECT *, coalesce(failed_at, last_attempt_at, created_at) AS failed FROM webhook_deliveries WHERE status = 'failed') d
    JOIN projects p ON p.id = d.project_id
    WHERE ${inWindow(sql.ref('d.failed'))}
    ORDER BY d.failed DESC, d.id DESC LIMIT ${limit}`;

  const kinds: [FailureKind, typeof outbox][] = [['outbox', outbox], ['meta', meta], ['jobs', jobs], ['deliveries', deliveries]];
  return Promise.all(
    kinds.map(async ([kind, statement]) => {
      const { rows } = await statement.execute(db);
      return { kind, count: rows[0]?.total ?? 0, rows: rows.map(({ total: _total, ...row }) => row) };
    }),
  );
}
