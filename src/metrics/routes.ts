// GET /metrics and the hook that times every request. Installed on the root instance (not as an
// encapsulated plugin) so that the hook sees the requests of every route, API and Meta alike.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ApiError, errorResponse } from '../http/errors.ts';
import { type MetricsOptions, ServerMetrics } from './registry.ts';

export interface InstallMetricsOptions extends MetricsOptions {
  /** PARLEY_METRICS_TOKEN: when set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string | null;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compares digests, so neither the token's length nor its prefix leaks through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(.+)$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!.trim()), digest(token));
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const metricsSchema = {
  operationId: 'getMetrics',
  summary: 'Prometheus metrics',
  description:
    'Metrics in the Prometheus text format: requests by route template, method and status with a latency histogram, ' +
    'the database pool, the depth and age of the background queues (read from the database at scrape time), ' +
    'whether the embedded PostgreSQL runs, and the process itself. When PARLEY_METRICS_TOKEN is set the scrape must ' +
    'send it as a Bearer token; when it is unset the endpoint is open.',
  tags: ['Server'],
  security: [{ MetricsToken: [] }],
  produces: [METRICS_CONTENT_TYPE],
  response: {
    200: Type.String({
      description: 'The metrics, one sample per line',
      examples: ['# HELP parley_http_requests_total HTTP requests answered\n# TYPE parley_http_requests_total counter\nparley_http_requests_total{method="GET",route="/platform/v1/whatsapp/contacts",status="200"} 42\n'],
    }),
    401: errorResponse('PARLEY_METRICS_TOKEN is set and the request did not send it as a Bearer token'),
  },
};

/**
 * Adds GET /metrics. `onResponse` runs in the same hook that times every request (the caller's
 * per-request work, e.g. the request log line), so that each request costs one hook call, not two.
 */
export function installMetrics(app: FastifyInstance, options: InstallMetricsOptions, onResponse?: (request: FastifyRequest, reply: FastifyReply) => void): ServerMetrics {
  const metrics = new ServerMetrics(options);
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    onResponse?.(request, reply);
    done();
  });
  const token = options.token ?? null;
  app.get('/metrics', { schema: metricsSchema }, async (request, reply) => {
    if (token !== null && !bearerMatches(request.headers.authorization, token)) {
      throw new ApiError(401, 'Send PARLEY_METRICS_TOKEN as "Authorization: Bearer <token>"', { headers: { 'www-authenticate': 'Bearer realm="metrics"' } });
    }
    return reply.type(METRICS_CONTENT_TYPE).send(await metrics.render());
  });
  return metrics;
}
