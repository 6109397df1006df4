// X-API-Key on every /platform/v1 route, and the per-key rate limit.
//
// The limit is a fixed one-minute window counted for the whole cluster by ClusterRateLimiter
// (rate-limit.ts), which answers from memory while the node holds tokens.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { ClusterRateLimiter } from './rate-limit.ts';
import type { AuthenticatedKey, KeyAuthenticator } from '../projects/service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthenticatedKey;
  }
}

const UNAUTHORIZED = 'Missing or invalid API key';

export interface AuthOptions {
  authenticator: KeyAuthenticator;
  limiter: ClusterRateLimiter;
  defaultRateLimit: number;
  /** Also take the key from `Authorization: Bearer prl_…` (the proxy: Meta clients send a bearer). */
  acceptBearer?: boolean;
  /** Builds the refusal in the scope's error shape; the Platform's ApiError by default. */
  refuse?: (status: 401 | 429, message: string, headers?: Record<string, string>) => Error;
}

const platformRefusal = (status: 401 | 429, message: string, headers?: Record<string, string>) => new ApiError(status, message, { headers });

function presentedKey(request: FastifyRequest, acceptBearer: boolean): string | undefined {
  const header = request.headers['x-api-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (key !== undefined || !acceptBearer) return key;
  const authorization = request.headers.authorization;
  return authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
}

/** Adds the key check to every route registered in `scope` (and its children). */
export function requireApiKey(scope: FastifyInstance, options: AuthOptions): void {
  scope.decorateRequest('auth', null as unknown as AuthenticatedKey);
  const refuse = options.refuse ?? platformRefusal;
  const acceptBearer = options.acceptBearer ?? false;
  scope.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const auth = await options.authenticator.authenticate(presentedKey(request, acceptBearer));
    if (!auth) throw refuse(401, UNAUTHORIZED);
    request.auth = auth;
    const limit = auth.rateLimit ?? options.defaultRateLimit;
    if (limit === 0) return;
    const taken = options.limiter.take(auth.keyPrefix, limit);
    const remaining = typeof taken === 'number' ? taken : await taken;
    if (remaining < 0) {
      const headers = { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'retry-after': String(options.limiter.secondsToReset()) };
      throw refuse(429, `Rate limit of ${limit} requests per minute exceeded`, headers);
    }
    void reply.header('x-ratelimit-limit', String(limit));
    void reply.header('x-ratelimit-remaining', String(remaining));
  });
}
