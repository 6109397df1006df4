// One error table: the classes services throw, and the handler that turns them (and Fastify's
// own errors) into `{"error": "..."}` with the right status. 500s never echo internals.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isDatabaseUnavailable } from '../db/errors.ts';

export class ApiError extends Error {
  readonly status: number;
  /** A body other than `{error}`, for the few wire formats that demand one. */
  readonly body: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(status: number, message: string, options: { body?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.body = options.body;
    this.headers = options.headers;
  }
}

export const badRequest = (message: string) => new ApiError(400, message);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);
export const preconditionFailed = (message = 'The resource has changed since it was read (If-Match does not match)') =>
  new ApiError(412, message);
export const unprocessable = (message: string) => new ApiError(422, message);

/** An error response for the OpenAPI document: `{"error": "..."}` with what it means here. */
export const errorResponse = (description: string) =>
  Type.Object({ error: Type.String({ description: 'What went wrong, in one sentence' }) }, { description });

/** Error responses every authenticated route can give. */
export const authErrors = {
  401: errorResponse('Missing or invalid API key'),
  429: errorResponse('Rate limit exceeded; retry after Retry-After seconds'),
};

interface AjvIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** `/contact/wa_id` → `contact.wa_id`; the context name when the path is the root. */
function fieldName(instancePath: string, context: string): string {
  const parts = instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.length > 0 ? parts.join('.') : context;
}

function join(parent: string, child: string, context: string): string {
  return parent === context ? child : `${parent}.${child}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

/** Our sentence for one schema violation. */
export function describeValidationIssue(issue: AjvIssue, context: string): string {
  const field = fieldName(issue.instancePath, context);
  const p = issue.params;
  switch (issue.keyword) {
    case 'required':
      return `${join(field, String(p.missingProperty), context)} is required`;
    case 'additionalProperties':
      return `${join(field, String(p.additionalProperty), context)} is not a known field`;
    case 'type': {
      const types = String(p.type).split(',').map((t) => TYPE_WORDS[t] ?? t);
      return `${field} must be ${types.join(' or ')}`;
    }
    case 'format':
      return `${field} must be a valid ${p.format === 'uuid' ? 'UUID' : p.format === 'date-time' ? 'ISO 8601 date-time' : String(p.format)}`;
    case 'minLength':
      return Number(p.limit) === 1 ? `${field} must not be empty` : `${field} must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    case 'minimum':
    case 'maximum':
      return `${field} must be ${issue.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p.limit)}`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'pattern':
      return `${field} has an invalid format`;
    default:
      return `${field} ${issue.message ?? 'is invalid'}`;
  }
}

/** Query parameters whose bad values are pagination errors (400), not filter errors (422). */
const PAGINATION_PARAMS = new Set(['limit', 'after', 'before', 'page', 'per_page']);

export function errorHandler(error: FastifyError & { validation?: AjvIssue[]; validationContext?: string }, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) {
    if (error.headers) void reply.headers(error.headers);
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(error.status).send(error.body ?? { error: error.message });
  }
  if (error.validation && error.validation.length > 0) {
    const context = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'body');
    const issue = error.validation[0]!;
    const message = describeValidationIssue(issue, context);
    const param = fieldName(issue.instancePath, '') || String(issue.params.missingProperty ?? '');
    const status = context === 'query' && PAGINATION_PARAMS.has(param) ? 400 : 422;
    return reply.code(status).send({ error: message });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return reply.code(400).send({ error: error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'Request body is empty but Content-Type is JSON' : 'Request body is not valid JSON' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply.code(413).send({ error: 'Request body is larger than the 1 MiB limit' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return reply.code(400).send({ error: 'Content-Length does not match the request body' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply.code(415).send({ error: 'Content-Type must be application/json or application/merge-patch+json' });
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return reply.code(error.statusCode).send({ error: error.message });
  }
  if (isDatabaseUnavailable(error)) {
    // The outage is logged once by the database's health check, not once per request.
    request.log.debug({ err: error }, 'database unavailable');
    return reply.code(503).header('retry-after', '5').send({ error: 'Database unavailable' });
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply.code(500).send({ error: 'Internal server error' });
}
