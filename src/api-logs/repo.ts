// SQL for the API log: the recorder's batched INSERT, the listing read per project, and the
// retention purge.
import type { Kysely, Transaction } from 'kysely';
import { keysetPage } from '../db/keyset.ts';
import { containsPattern } from '../db/like.ts';
import type { Database } from '../db/schema.ts';
import type { CursorRequest } from '../db/keyset.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** One request as the recorder holds it until its batch is written. */
export interface ApiLogEntry {
  projectId: string;
  apiKeyId: string | null;
  apiKeyName: string | null;
  /** ISO 8601: when the response was sent. */
  createdAt: string;
  method: string;
  endpoint: string;
  statusCode: number;
  responseTimeMs: number;
  ip: string | null;
  errorMessage: string | null;
}

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

/** One multi-row INSERT for the whole batch. */
export async function insertApiLogs(db: Executor, entries: readonly ApiLogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('api_logs')
    .values(
      entries.map((entry) => ({
        project_id: entry.projectId,
        api_key_id: entry.apiKeyId,
        api_key_name: entry.apiKeyName,
        created_at: entry.createdAt,
        method: entry.method,
        endpoint: entry.endpoint,
        status_code: entry.statusCode,
        response_time_ms: entry.responseTimeMs,
        ip: entry.ip,
        error_message: entry.errorMessage,
      })),
    )
    .execute();
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
