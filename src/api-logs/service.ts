// The rules of the API log listing: the look-back period, the filters, the wire shape.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import type { Database } from '../db/schema.ts';
import { cursorPage, type CursorRequest } from '../http/pagination.ts';
import * as repo from './repo.ts';
import { API_LOG_PERIOD_HOURS, type ApiLog, type ApiLogPeriod, type ListApiLogsQuery } from './schemas.ts';

const HOUR_MS = 60 * 60 * 1000;

export function toApiLog(row: repo.ApiLogRow): ApiLog {
  return {
    id: row.id,
    endpoint: row.endpoint,
    http_method: row.method,
    response_status: row.status_code,
    response_time_ms: row.response_time_ms,
    ip_address: row.ip,
    error_message: row.error_message,
    created_at: isoMicros(row.created_at),
    api_key_id: row.api_key_id,
    api_key_name: row.api_key_name,
  };
}

export class ApiLogsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async list(projectId: string, query: ListApiLogsQuery, cursor: CursorRequest) {
    const period = (query.period ?? '24h') as ApiLogPeriod;
    const since = new Date(this.clock().getTime() - API_LOG_PERIOD_HOURS[period] * HOUR_MS).toISOString();
    const rows = await repo.listApiLogs(
      this.db,
      projectId,
      { since, endpointContains: query.endpoint, statusCode: query.status_code, errorsOnly: query.errors_only === true },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map(toApiLog), paging: page.paging };
  }
}
