// X-API-Key on every /platform/v1 route, and the per-key rate limit.
//
// The limit is a fixed one-minute window counted in this node's memory: exact for a single
// node, and at most (nodes × limit) per minute for a cluster. Counting in the database would
// put a write on every request.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { AuthenticatedKey, KeyAuthenticator } from '../projects/service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthenticatedKey;
  }
}

const UNAUTHORIZED = 'Missing or invalid API key';

export class RateLimiter {
  private readonly windows = new Map<string, { window: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request; returns what is left in the window, or -1 when over the limit. */
  take(key: string, limit: number): number {
    const window = Math.floor(this.now() / 60_000);
    let entry = this.windows.get(key);
    if (!entry || entry.window !== window) {
      if (this.windows.size > 10_000) this.windows.clear();
      entry = { window, count: 0 };
      this.windows.set(key, entry);
    }
    entry.count += 1;
    return entry.count > limit ? -1 : limit - entry.count;
  }
}

export interface AuthOptions {
  authenticator: KeyAuthenticator;
  limiter: RateLimiter;
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
    const remaining = options.limiter.take(auth.keyPrefix, limit);
    if (remaining < 0) {
      throw refuse(429, `Rate limit of ${limit} requests per minute exceeded`, { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'retry-after': '60' });
    }
    void reply.header('x-ratelimit-limit', String(limit));
    void reply.header('x-ratelimit-remaining', String(remaining));
  });
}
