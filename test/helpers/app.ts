// Builds the real app on a test database with a project and key, and sends requests through
// the full Fastify stack.
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { ApiLogRecorder } from '../../src/api-logs/recorder.ts';
import { type AppDeps, buildApp } from '../../src/app.ts';
import { GraphClient } from '../../src/meta-graph/client.ts';
import { TokenCipher } from '../../src/phone-numbers/token-cipher.ts';
import { createKey } from '../../src/projects/service.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestApp {
  app: FastifyInstance;
  database: TestDatabase;
  /** Key of project "alpha". */
  key: string;
  /** Key of project "beta", for tenant isolation checks. */
  otherKey: string;
  /** The cipher that seals phone numbers' access tokens in this app. */
  cipher: TokenCipher;
  graph: GraphClient;
  request(options: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  url: string;
  /** Defaults to the alpha key; null sends no key. */
  key?: string | null;
  body?: unknown;
  /** Sent verbatim instead of `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
  text: string;
}

/** The Meta app secret and verify token test apps are configured with. */
export const TEST_META_APP_SECRET = 'test-app-secret';
export const TEST_META_VERIFY_TOKEN = 'test-verify-token';

export interface StartTestAppOptions {
  database?: TestDatabase;
  rateLimit?: number;
  /** Meta app secrets (rotation list); defaults to [TEST_META_APP_SECRET]. */
  metaAppSecrets?: string[];
  /** Meta verify token; defaults to TEST_META_VERIFY_TOKEN. */
  metaVerifyToken?: string | null;
  /** Whether webhooks may target loopback and private addresses; defaults to true. */
  allowPrivateWebhooks?: boolean;
  /** PARLEY_METRICS_TOKEN; defaults to none (GET /metrics open). */
  metricsToken?: string | null;
  /** The embedded database's state as GET /metrics reports it; defaults to none (external database). */
  embeddedUp?: () => boolean;
  /** PARLEY_META_GRAPH_URL: a stand-in Graph API (src/sandbox/); defaults to a closed port. */
  metaGraphUrl?: string;
  /** PARLEY_META_TIMEOUT_MS; defaults to 5000. */
  metaTimeoutMs?: number;
  /** Where the app logs; defaults to silence (TEST_LOG_LEVEL to see it). */
  logger?: Logger;
  /** The token cipher; defaults to a fresh key (pass another app's to share its numbers). */
  cipher?: TokenCipher;
  /** PARLEY_PUBLIC_URL; defaults to none (links from the request's Host). */
  publicUrl?: string | null;
  /** The API log's writer; defaults to one the app makes and flushes when it closes. */
  apiLog?: ApiLogRecorder;
  /** Told after writes (src/webhooks/outbox-signal.ts); defaults to none (tests pump the dispatcher). */
  outbox?: AppDeps['outbox'];
}

export async function startTestApp(options: StartTestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const cipher = options.cipher ?? new TokenCipher(randomBytes(32));
  // Port 9 (discard) is closed here: without a stand-in, a call to Meta fails fast as unreachable.
  const graph = new GraphClient({ baseUrl: options.metaGraphUrl ?? 'http://127.0.0.1:9', timeoutMs: options.metaTimeoutMs ?? 5000, cipher, logger });
  const app = await buildApp({
    db: database.db,
    pool: database.pool,
    config: {
      defaultRateLimit: options.rateLimit ?? 1_000_000,
      metaVerifyToken: options.metaVerifyToken === undefined ? TEST_META_VERIFY_TOKEN : options.metaVerifyToken,
      metaAppSecrets: options.metaAppSecrets ?? [TEST_META_APP_SECRET],
      allowPrivateWebhooks: options.allowPrivateWebhooks ?? true,
      metricsToken: options.metricsToken ?? null,
      publicUrl: options.publicUrl ?? null,
    },
    logger,
    cipher,
    graph,
    embeddedUp: options.embeddedUp,
    apiLog: options.apiLog,
    outbox: options.outbox,
  });
  await app.ready();
  const { key } = await createKey(database.db, 'alpha');
  const { key: otherKey } = await createKey(database.db, 'beta');

  const request = async (opts: RequestOptions): Promise<TestResponse> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const apiKey = opts.key === undefined ? key : opts.key;
    if (apiKey !== null) headers['x-api-key'] = apiKey;
    let payload: string | undefined;
    if (opts.rawBody !== undefined) payload = opts.rawBody;
    else if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await app.inject({ method: opts.method, url: opts.url, headers, payload });
    let body: unknown = undefined;
    if (response.body.length > 0) {
      try {
        body = JSON.parse(response.body);
      } catch {
        body = response.body;
      }
    }
    return { status: response.statusCode, headers: response.headers, body, text: response.body };
  };

  return {
    app,
    database,
    key,
    otherKey,
    cipher,
    graph,
    request,
    async close() {
      await app.close();
      await graph.close();
      if (!options.database) await database.drop();
    },
  };
}
