// buildApp: the whole HTTP server without listening, so tests and the CLI build the same thing.
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import apiReference from '@scalar/fastify-api-reference';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import { installApiLog } from './api-logs/hook.ts';
import { ApiLogRecorder } from './api-logs/recorder.ts';
import { apiLogRoutes } from './api-logs/routes.ts';
import type { Config } from './config.ts';
import { contactRoutes } from './contacts/routes.ts';
import { conversationRoutes } from './conversations/routes.ts';
import { customerRoutes } from './customers/routes.ts';
import type { Database } from './db/schema.ts';
import { requireApiKey } from './http/auth.ts';
import { ClusterRateLimiter } from './http/rate-limit.ts';
import { errorHandler } from './http/errors.ts';
import { API_DESCRIPTION, API_TAGS, DOCS_PATH, docsPageConfiguration, healthSchema, readinessSchema } from './http/openapi.ts';
import { refuseNulCharacters } from './http/nul-character.ts';
import { marketingPreferenceRoutes } from './marketing-preferences/routes.ts';
import { MEDIA_LINK_KEY_PURPOSE, MediaLinkSigner } from './media/link-signer.ts';
import { MediaLinks } from './media/links.ts';
import { mediaRoutes } from './media/routes.ts';
import { messageRoutes } from './messages/routes.ts';
import { metaWebhookRoutes } from './meta-inbound/routes.ts';
import type { GraphClient } from './meta-graph/client.ts';
import { LOCAL_ROUTES } from './meta-proxy/local-routes.ts';
import { mediaDownloadRoute } from './meta-proxy/media.ts';
import { metaProxyRoutes, PROXY_PREFIX } from './meta-proxy/routes.ts';
import { installMetrics } from './metrics/routes.ts';
import { phoneNumberRoutes } from './phone-numbers/routes.ts';
import type { TokenCipher } from './phone-numbers/token-cipher.ts';
import { KeyAuthenticator } from './projects/service.ts';
import { OutboundRecorder } from './sending/recorder.ts';
import { webhookDeliveryRoutes } from './webhook-deliveries/routes.ts';
import { webhookRoutes } from './webhooks/routes.ts';

export interface AppDeps {
  db: Kysely<Database>;
  /** The pool under `db`. */
  pool: pg.Pool;
  config: Pick<Config, 'defaultRateLimit' | 'metaVerifyToken' | 'metaAppSecrets' | 'allowPrivateWebhooks'> & Partial<Pick<Config, 'metricsToken' | 'publicUrl'>>;
  /** The Graph API client (src/meta-graph/): the proxy and everything else that calls Meta. */
  graph: GraphClient;
  /** Seals phone numbers' access tokens. */
  cipher: TokenCipher;
  logger: Logger;
  /** Shared with the notification listener so revocations reach the cache. */
  authenticator?: KeyAuthenticator;
  /** Called after each Meta webhook body is stored (the server wakes its inbound workers). */
  onMetaEventStored?: () => void;
  /** Whether the embedded PostgreSQL runs (for GET /metrics); leave out with an external database. */
  embeddedUp?: () => boolean;
  /**
   * Told after each successful write request (and after webhook changes) so that the webhook
   * dispatchers wake once its commit is visible (src/webhooks/outbox-signal.ts).
   */
  outbox?: { written(): void; webhooksChanged(): void };
  /** Writes the API log; the server passes its own so that it can flush it after the last request. Without one the app makes one and flushes it when it closes. */
  apiLog?: ApiLogRecorder;
}

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export const API_PREFIX = '/platform/v1';
const MAX_BODY_BYTES = 1024 * 1024;
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** ajv-formats' date-time, minus year 0000, which PostgreSQL cannot store. */
function withDateTime(ajv: Ajv): Ajv {
  const base = ajv.formats['date-time'] as { validate: (value: string) => boolean } | undefined;
  if (!base) throw new Error('ajv-formats did not register date-time');
  return ajv.addFormat('date-time', { type: 'string', validate: (value: string) => base.validate(value) && !value.startsWith('0000') });
}

function validators() {
  // Bodies are checked exactly as sent: no coercion ("123" is not 123) and no silent removal
  // of unknown fields. Query strings and headers are text, so they are coerced.
  const body = withDateTime(addFormats(new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })));
  const text = withDateTime(addFormats(new Ajv({ coerceTypes: true, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => (httpPart === 'body' ? body : text).compile(schema);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // Identifiers longer than Fastify's default of 100 characters get our 404, not a 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // Bad percent-encoding (400) and over-long path parameters (414) are answered by the router
    // before any route; without this they get Fastify's own body instead of `{"error": ...}`.
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validators());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `No route for ${request.method} ${request.url.split('?')[0]}` }));
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, app.getDefaultJsonParser('error', 'error'));

  // Callback-style hooks: on every request, a promise per hook is measurable.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  // Before validation, so that no route and no check after it meets a NUL (src/http/nul-character.ts).
  app.addHook('preValidation', refuseNulCharacters);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley Platform API',
        version: '0.1.0',
        description: API_DESCRIPTION,
      },
      servers: [{ url: '/' }],
      tags: API_TAGS,
      components: {
        securitySchemes: {
          ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A project API key, made with `parley keys create`' },
          MetricsToken: { type: 'http', scheme: 'bearer', description: 'PARLEY_METRICS_TOKEN, when the server sets one' },
        },
      },
      security: [{ ApiKeyAuth: [] }],
    },
  });
  const apiLog = deps.apiLog ?? new ApiLogRecorder(deps.db, deps.logger);
  if (!deps.apiLog) app.addHook('onClose', async () => apiLog.close());
  // After swagger, so that GET /metrics is in the document; before the routes, so that its hook times them all.
  // The request line and the outbox wake-up are in the same hook: one hook call per request.
  const outbox = deps.outbox;
  const metrics = installMetrics(
    app as unknown as FastifyInstance,
    { db: deps.db, pool: deps.pool, token: deps.config.metricsToken ?? null, embeddedUp: deps.embeddedUp, droppedApiLogRows: () => apiLog.dropped },
    (request, reply) => {
      // Health probes and metric scrapes come every few seconds from load balancers and Prometheus: only at debug.
      const level = PROBES.has(request.routeOptions.url ?? '') ? 'debug' : 'info';
      if ((request.log as Logger).isLevelEnabled(level)) {
        // The path only: query strings carry secrets (hub.verify_token) and personal data (filters).
        request.log[level]({ method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      }
      // After the answer, so after the commit: the dispatcher that wakes sees the new rows.
      if (outbox && request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 400) outbox.written();
    },
  );
  deps.graph.registerMetrics(metrics.registry);
  const recorder = new OutboundRecorder(deps.db, deps.logger);
  recorder.registerMetrics(metrics.registry);
  await app.register(apiReference, { routePrefix: DOCS_PATH, configuration: docsPageConfiguration });
  // A browser opening the server's address lands on the API reference.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${DOCS_PATH}/`, 302));

  app.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: readinessSchema }, async (_request, reply) => {
    try {
      await sql`SELECT 1`.execute(deps.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ error: 'Database unavailable' });
    }
  });
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());

  const authenticator = deps.authenticator ?? new KeyAuthenticator(deps.db);
  const mediaSigner = new MediaLinkSigner(deps.cipher.deriveKey(MEDIA_LINK_KEY_PURPOSE));
  const mediaLinks = new MediaLinks(mediaSigner, deps.config.publicUrl ?? null);
  const limiter = new ClusterRateLimiter(deps.db, { logger: deps.logger });
  // Unused tokens go back to the database while it is still open (the server closes the app first).
  app.addHook('onClose', async () => limiter.close());
  await app.register(
    async (api) => {
      requireApiKey(api, { authenticator, limiter, defaultRateLimit: deps.config.defaultRateLimit });
      installApiLog(api as unknown as FastifyInstance, apiLog);
      await api.register(contactRoutes, { db: deps.db, pool: deps.pool });
      await api.register(customerRoutes, { db: deps.db });
      await api.register(phoneNumberRoutes, { db: deps.db, cipher: deps.cipher, graph: deps.graph });
      await api.register(conversationRoutes, { db: deps.db });
      await api.register(messageRoutes, { db: deps.db, mediaLinks });
      await api.register(mediaRoutes, { db: deps.db, graph: deps.graph, allowPrivate: deps.config.allowPrivateWebhooks });
      await api.register(marketingPreferenceRoutes, { db: deps.db });
      await api.register(webhookDeliveryRoutes, { db: deps.db });
      await api.register(webhookRoutes, { db: deps.db, allowPrivateWebhooks: deps.config.allowPrivateWebhooks, onWebhooksChanged: outbox ? () => outbox.webhooksChanged() : undefined });
      await api.register(apiLogRoutes, { db: deps.db });
    },
    { prefix: API_PREFIX },
  );
  await app.register(metaProxyRoutes, {
    prefix: PROXY_PREFIX,
    deps: { db: deps.db, pool: deps.pool, graph: deps.graph, logger: deps.logger, publicUrl: deps.config.publicUrl ?? null, mediaLinks, recorder },
    auth: { authenticator, limiter, defaultRateLimit: deps.config.defaultRateLimit },
    routes: LOCAL_ROUTES,
    // The proxy's requests are API requests too: the same log, with Meta-shaped error messages.
    authenticatedScope: (scope) => installApiLog(scope, apiLog),
    publicRoutes: (scope) => mediaDownloadRoute(scope, { db: deps.db, graph: deps.graph, signer: mediaSigner }),
  });
  await app.register(metaWebhookRoutes, { db: deps.db, verifyToken: deps.config.metaVerifyToken, appSecrets: deps.config.metaAppSecrets, onStored: deps.onMetaEventStored });
  return app as unknown as FastifyInstance;
}
