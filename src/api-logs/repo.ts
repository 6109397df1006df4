// SQL for the API log: the recorder's batched INSERT (over arrays), the listing read per project, and the
// retention purge.
import { type Kysely, sql, type Transaction } from 'kysely';
import { type ApiLogEntry, ApiLogColumns } from './columns.ts';
import { keysetPage } from '../db/keyset.ts';
import { containsPattern } from '../db/like.ts';
import type { Database } from '../db/schema.ts';
import type { CursorRequest } from '../db/keyset.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export type { ApiLogEntry } from './columns.ts';

export interface ApiLogRow {
  id: string;
  api_key_id: string | null;
  api_key_name: string | null;
  created_at: string;
  method: string;
  endpoint: string;
  status_code: number;
  response_time_ms: number;
  ip: string | null;
  error_message: string | null;
}

export interface ApiLogFilters {
  /** Rows at or after this instant (the period). */
  since: string;
  endpointContains?: string;
  statusCode?: number;
  errorsOnly?: boolean;
}

/** Days a log row is kept. */
export const API_LOG_RETENTION_DAYS = 30;
const PURGE_CHUNK = 5_000;

/**
 * One INSERT for the whole batch, over ten arrays: a fixed statement with ten parameters whatever
 * the batch size, so nothing is built per row on our side and PostgreSQL parses the same text
 * every time. The time travels as epoch milliseconds (exact in a double) and becomes a timestamptz
 * in the database, and the row's id a UUIDv7 of it (migration 0016).
 */
export async function insertApiLogColumns(db: Executor, rows: ApiLogColumns): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    INSERT INTO api_logs (id, project_id, api_key_id, api_key_name, created_at, method, endpoint, status_code, response_time_ms, ip, error_message)
    SELECT parley_uuid_v7(t), p, k, kn, to_timestamp(t / 1000), m, e, s, r, i, err
    FROM unnest(${rows.projectId}::uuid[], ${rows.apiKeyId}::uuid[], ${rows.apiKeyName}::text[], ${rows.createdAtMs}::float8[],
                ${rows.method}::text[], ${rows.endpoint}::text[], ${rows.statusCode}::int2[], ${rows.responseTimeMs}::float8[],
                ${rows.ip}::text[], ${rows.errorMessage}::text[]) AS row(p, k, kn, t, m, e, s, r, i, err)`.execute(db);
}

/** The same INSERT for rows held as objects (tests, one-off writes). */
export async function insertApiLogs(db: Executor, entries: readonly ApiLogEntry[]): Promise<void> {
  const rows = new ApiLogColumns();
  for (const entry of entries) rows.pushEntry(entry);
  await insertApiLogColumns(db, rows);
}

/** One page in (created_at, id) order, newest first, with one extra row to tell whether more follow. */
export async function listApiLogs(db: Executor, projectId: string, filters: ApiLogFilters, page: CursorRequest): Promise<ApiLogRow[]> {
  let query = db
    .selectFrom('api_logs')
    .select(['id', 'api_key_id', 'api_key_name', 'created_at', 'method', 'endpoint', 'status_code', 'response_time_ms', 'ip', 'error_message'])
    .where('project_id', '=', projectId)
    .where('created_at', '>=', filters.since);
  if (filters.endpointContains !== undefined) query = query.where('endpoint', 'ilike', containsPattern(filters.endpointContains));
  if (filters.statusCode !== undefined) query = query.where('status_code', '=', filters.statusCode);
  if (filters.errorsOnly) query = query.where('status_code', '>=', 400);
  return keysetPage(query, page, { time: 'created_at', id: 'id' }).execute();
}

/** Deletes rows older than the retention, in chunks so that no statement holds many locks or runs long. */
export async function purgeOldApiLogs(db: Kysely<Database>, now: Date, chunk = PURGE_CHUNK): Promise<number> {
  const cutoff = new Date(now.getTime() - API_LOG_RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom('api_logs')
      .where('id', 'in', (eb) => eb.selectFrom('api_logs').select('id').where('created_at', '<', cutoff).limit(chunk))
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < chunk) return total;
  }
}
