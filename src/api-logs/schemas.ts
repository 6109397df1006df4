// Wire schemas of the API log. The response schema is the allow-list of what a log row shows:
// never a query string, a body or a key's secret.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { PAGING_EXAMPLE, success } from '../http/openapi.ts';
import { cursorQueryProperties, PagingSchema } from '../http/pagination.ts';

/** How far back the list looks, by the value of `period`. */
export const API_LOG_PERIOD_HOURS = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
export type ApiLogPeriod = keyof typeof API_LOG_PERIOD_HOURS;

export const ApiLogSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    endpoint: Type.String({ description: 'The path requested, without its query string' }),
    http_method: Type.String({ description: 'GET, POST, PATCH, DELETE, …' }),
    response_status: Type.Integer({ description: 'The HTTP status Parley answered with' }),
    response_time_ms: Type.Number({ description: 'Milliseconds from receiving the request to sending the answer' }),
    ip_address: nullable(Type.String(), 'The address the request came from, as the server saw it'),
    error_message: nullable(Type.String(), 'The error the answer carried, for statuses of 400 and above'),
    created_at: Type.String({ format: 'date-time', description: 'When the answer was sent' }),
    api_key_id: nullable(Type.String({ format: 'uuid' }), 'The API key that made the request'),
    api_key_name: nullable(Type.String(), 'The name the key was given (`parley keys create --name`), if any'),
  },
  { description: 'One request made with one of the project’s API keys' },
);
export type ApiLog = Static<typeof ApiLogSchema>;

export const ListApiLogsQuery = Type.Object({
  endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'Only requests whose path contains this text (case-insensitive)' })),
  status_code: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'Only requests answered with this HTTP status' })),
  errors_only: Type.Optional(Type.Boolean({ default: false, description: 'true: only requests answered with a status of 400 or above' })),
  period: Type.Optional(Type.String({ enum: Object.keys(API_LOG_PERIOD_HOURS), default: '24h', description: 'Only requests of the last 24h, 7d or 30d (rows are kept 30 days)' })),
  ...cursorQueryProperties,
});
export type ListApiLogsQuery = Static<typeof ListApiLogsQuery>;

const API_LOG_EXAMPLE: ApiLog = {
  id: '2b7e4c1a-9d3f-4e8b-a6c5-1f0e9d8c7b6a',
  endpoint: '/platform/v1/whatsapp/contacts/14155550123',
  http_method: 'PATCH',
  response_status: 422,
  response_time_ms: 3.418,
  ip_address: '203.0.113.7',
  error_message: 'contact.display_name must be at most 255 characters',
  created_at: '2026-03-04T09:12:44.503211Z',
  api_key_id: '8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  api_key_name: 'CI bot',
};

export const listApiLogsSchema = {
  operationId: 'listApiLogs',
  summary: 'List API logs',
  description:
    'Requests made with this project’s API keys, newest first, with cursor pagination: path, method, status, time taken, ' +
    'client address, the error message of failed requests and the key that made them. Rows are written in batches a ' +
    'fraction of a second after each answer and kept for 30 days.',
  tags: ['API Logs'],
  querystring: ListApiLogsQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(ApiLogSchema), paging: PagingSchema }), 'A page of logged requests', { example: { data: [API_LOG_EXAMPLE], paging: PAGING_EXAMPLE } }),
    400: errorResponse('Bad pagination parameters or cursor'),
    422: errorResponse('A filter value is invalid; the message names it'),
    ...authErrors,
  },
};
