// The proxy's one error table. Its clients are Meta clients (Kapso's SDK builds a GraphApiError
// from `{"error":{message,type,code,error_subcode,fbtrace_id}}`), so every refusal of ours on
// /meta/whatsapp has Meta's shape. Errors Meta itself returns are passed through untouched and
// never come here.
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { ApiError, describeValidationIssue } from '../http/errors.ts';
import { GraphUnavailableError } from '../meta-graph/client.ts';

export interface MetaErrorBody {
  error: { message: string; type: string; code: number; error_subcode?: number; fbtrace_id: string };
}

/** Meta's trace ids are short opaque strings; ours say which request it was in the logs. */
export function traceId(): string {
  return `P${randomBytes(9).toString('base64url')}`;
}

export class MetaError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: number,
    readonly subcode?: number,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  body(fbtraceId: string): MetaErrorBody {
    return { error: { message: this.message, type: this.type, code: this.code, ...(this.subcode === undefined ? {} : { error_subcode: this.subcode }), fbtrace_id: fbtraceId } };
  }
}

export const invalidKey = () => new MetaError(401, 'Missing or invalid API key', 'OAuthException', 190);
export const phoneNumberNotFound = () => new MetaError(404, 'Phone number not found', 'GraphMethodException', 100, 33);
export const invalidParameter = (message: string) => new MetaError(400, message, 'OAuthException', 100);
export const objectNotFound = (message: string, type = 'GraphMethodException') => new MetaError(404, message, type, 100, 33);

/** Meta's codes for the statuses our own refusals use. */
function codeFor(status: number): { type: string; code: number } {
  if (status === 401 || status === 403) return { type: 'OAuthException', code: 190 };
  if (status === 429) return { type: 'OAuthException', code: 4 };
  if (status >= 500) return { type: 'GraphMethodException', code: status === 502 || status === 504 ? 2 : 1 };
  return { type: 'OAuthException', code: 100 };
}

function fromApiError(error: ApiError): MetaError {
  const { type, code } = codeFor(error.status);
  return new MetaError(error.status, error.message, type, code, error.status === 404 ? 33 : undefined, error.headers);
}

type ValidationError = FastifyError & { validation?: Parameters<typeof describeValidationIssue>[0][]; validationContext?: string };

function toMetaError(error: ValidationError): MetaError | null {
  if (error instanceof MetaError) return error;
  if (error instanceof GraphUnavailableError) {
    return error.kind === 'timeout' ? new MetaError(504, error.message, 'GraphMethodException', 2) : new MetaError(502, error.message, 'GraphMethodException', 2);
  }
  if (error instanceof ApiError) return fromApiError(error);
  if (error.validation && error.validation.length > 0) {
    const context = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'body');
    return invalidParameter(describeValidationIssue(error.validation[0]!, context));
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidParameter('Request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidParameter('Request body is empty but Content-Type is JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MetaError(413, 'Request body is larger than this endpoint allows', 'OAuthException', 100);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidParameter('Content-Length does not match the request body');
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    const { type, code } = codeFor(error.statusCode);
    return new MetaError(error.statusCode, error.message, type, code);
  }
  return null;
}

/** The error handler of the /meta/whatsapp scope. */
export function metaErrorHandler(error: ValidationError, request: FastifyRequest, reply: FastifyReply) {
  // Parley's own Platform-style refusals that Kapso documents as not Meta-shaped
  // (marketing_preference_stopped) keep their body.
  if (error instanceof ApiError && error.body) {
    if (error.headers) void reply.headers(error.headers);
    return reply.code(error.status).send(error.body);
  }
  const fbtrace = traceId();
  let meta = toMetaError(error);
  if (!meta) {
    if (isDatabaseUnavailable(error)) {
      request.log.debug({ err: error }, 'database unavailable');
      meta = new MetaError(503, 'Database unavailable', 'GraphMethodException', 2, undefined, { 'retry-after': '5' });
    } else {
      request.log.error({ err: error, fbtrace_id: fbtrace }, 'unhandled error');
      meta = new MetaError(500, 'An unexpected error has occurred. Please retry your request later.', 'OAuthException', 1);
    }
  } else if (meta.status >= 500) {
    request.log.warn({ status: meta.status, fbtrace_id: fbtrace, reason: meta.message }, 'proxy error');
  }
  if (meta.headers) void reply.headers(meta.headers);
  return reply.code(meta.status).type('application/json; charset=utf-8').send(meta.body(fbtrace));
}
