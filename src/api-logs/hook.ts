// The hooks that feed the API log: every request that carries an authenticated key becomes one
// row, written later by the recorder. A 2xx costs ten slots pushed onto the recorder's column arrays (no object); only an error
// answer has its body read, for the message.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { storableText } from '../db/storable-text.ts';
import type { ApiLogRecorder } from './recorder.ts';

const MAX_ENDPOINT_LENGTH = 2000;
const MAX_ERROR_LENGTH = 1000;
/** Error bodies longer than this are not parsed for their message. */
const MAX_ERROR_BODY = 64 * 1024;

const errorMessages = new WeakMap<FastifyRequest, string>();

/**
 * The message of an error body: `{"error": "..."}` (Platform API) or `{"error": {"message": "..."}}`
 * (the Meta-shaped proxy). Null for anything else.
 */
export function errorMessageOf(payload: unknown): string | null {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
  if (text === null || text.length > MAX_ERROR_BODY) return null;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  const error = (body as { error?: unknown } | null)?.error;
  if (typeof error === 'string') return error;
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : null;
}

/** The path of the request: query strings carry secrets and personal data, so they are never logged. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return storableText(query === -1 ? url : url.slice(0, query), MAX_ENDPOINT_LENGTH);
}

/**
 * Logs every request of `scope` (and its children) made with an API key. Call it on the scope
 * itself (not through register), after the hook that sets `request.auth`.
 */
export function installApiLog(scope: FastifyInstance, recorder: ApiLogRecorder): void {
  scope.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    if (reply.statusCode >= 400 && request.auth) {
      const message = errorMessageOf(payload);
      if (message !== null) errorMessages.set(request, storableText(message, MAX_ERROR_LENGTH));
    }
    done(null, payload);
  });
  scope.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const auth = request.auth;
    if (auth) {
      recorder.recordRequest(
        auth.projectId,
        auth.keyId,
        auth.keyName,
        Date.now(),
        request.method,
        pathOf(request.url),
        reply.statusCode,
        Math.round(reply.elapsedTime * 1000) / 1000,
        request.ip ?? null,
        reply.statusCode >= 400 ? (errorMessages.get(request) ?? null) : null,
      );
    }
    done();
  });
}
