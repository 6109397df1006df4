// Environment → one frozen, typed Config, validated once at start.
// Every variable is documented in the README's configuration table.
import path from 'node:path';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Unset means: run the embedded PostgreSQL under `dataDir/pg`. */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** Null: pretty on a terminal, JSON lines anywhere else (src/logging.ts). */
  readonly logFormat: LogFormat | null;
  /** Requests per minute per API key unless the key sets its own limit. */
  readonly defaultRateLimit: number;
  /** How often the job runner looks for due jobs when no notification arrives. */
  readonly jobPollMs: number;
  /** Inbound worker loops in this process (they share the queue by sender lanes). */
  readonly inboundLoops: number;
  /** Most connections this server's pool opens (the LISTEN connection comes on top). */
  readonly dbPoolMax: number;
  /** 32-byte key sealing access tokens; null: generated once into `dataDir/secret.key`. */
  readonly secretKey: Buffer | null;
  /** Answers Meta's webhook verification (GET /webhooks/meta); null: verification refused. */
  readonly metaVerifyToken: string | null;
  /** App secrets that may sign Meta webhooks (several while one is being rotated). */
  readonly metaAppSecrets: readonly string[];
  /** Lets webhooks reach loopback and private addresses (tests, closed networks). */
  readonly allowPrivateWebhooks: boolean;
  /** Seconds before each retry of a failed webhook delivery; after the last, it is failed. */
  readonly webhookRetrySeconds: readonly number[];
  /** Bearer token GET /metrics demands; null: the endpoint is open. */
  readonly metricsToken: string | null;
  /** How long a server tries to restart an embedded PostgreSQL that died before it exits. */
  readonly embeddedRestartSeconds: number;
  /** Base of Meta's Graph API (no version, no trailing slash); tests and the sandbox point it at a stand-in. */
  readonly metaGraphUrl: string;
  /** How long one call to the Graph API may take before the proxy answers 504. */
  readonly metaTimeoutMs: number;
  /** Parley's address as clients reach it (for media download links and rewritten paging URLs); null: from each request's Host. */
  readonly publicUrl: string | null;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) {
    throw new ConfigError(`PORT must be a whole number from 0 to 65535, got "${raw}"`);
  }
  return Number(raw);
}

function parsePositiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new ConfigError(`${name} must be a whole number of at least 1, got "${raw}"`);
  }
  return Number(raw);
}

function parseDatabaseUrl(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('DATABASE_URL must be a URL such as postgres://user:pass@host:5432/db');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql://, got "${url.protocol}//"`);
  }
  return raw;
}

function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  const level = raw.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level as LogLevel;
}

function parseLogFormat(raw: string | undefined): LogFormat | null {
  if (raw === undefined || raw === '') return null;
  const format = raw.toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`LOG_FORMAT must be ${LOG_FORMATS.join(' or ')}, got "${raw}"`);
  }
  return format as LogFormat;
}

function parseSecret(raw: string | undefined): Buffer | null {
  if (raw === undefined || raw === '') return null;
  const text = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length !== 32 || !/^[A-Za-z0-9+/_-]+=*$/.test(text)) {
    throw new ConfigError('PARLEY_SECRET_KEY must be 32 bytes written as 64 hex digits or base64 (openssl rand -hex 32)');
  }
  return decoded;
}

function parseBoolean(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '') return false;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function parseDelays(name: string, raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined || raw === '') return fallback;
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) {
    throw new ConfigError(`${name} must be a comma-separated list of seconds such as 10,40,90, got "${raw}"`);
  }
  return parts.map(Number);
}

function parseBaseUrl(name: string, raw: string | undefined, fallback: string | null): string | null {
  if (raw === undefined || raw.trim() === '') return fallback;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`${name} must be an http:// or https:// URL without a query, got "${raw}"`);
  }
  return url.toString().replace(/\/+$/, '');
}

function parseList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The pool must leave requests a connection while every background loop holds one: the inbound
 * loops, the dispatcher, the delivery worker, the two job runners and the API log writer.
 */
function parsePoolMax(raw: string | undefined, inboundLoops: number): number {
  const max = parsePositiveInt('PARLEY_DB_POOL_MAX', raw, 20);
  const least = inboundLoops + 6;
  if (max < least) {
    throw new ConfigError(`PARLEY_DB_POOL_MAX must be at least ${least} (PARLEY_INBOUND_LOOPS + 6: one connection for each background loop and one for requests), got "${raw}"`);
  }
  return max;
}

export function loadConfig(env: Env = process.env): Config {
  const host = env.HOST === undefined || env.HOST === '' ? '127.0.0.1' : env.HOST;
  const inboundLoops = parsePositiveInt('PARLEY_INBOUND_LOOPS', env.PARLEY_INBOUND_LOOPS, 2);
  return Object.freeze({
    port: parsePort(env.PORT, 3000),
    host,
    databaseUrl: parseDatabaseUrl(env.DATABASE_URL),
    dataDir: path.resolve(env.PARLEY_DATA_DIR === undefined || env.PARLEY_DATA_DIR === '' ? './data' : env.PARLEY_DATA_DIR),
    logLevel: parseLogLevel(env.LOG_LEVEL),
    logFormat: parseLogFormat(env.LOG_FORMAT),
    defaultRateLimit: parsePositiveInt('PARLEY_RATE_LIMIT', env.PARLEY_RATE_LIMIT, 1000),
    jobPollMs: parsePositiveInt('PARLEY_JOB_POLL_MS', env.PARLEY_JOB_POLL_MS, 1000),
    inboundLoops,
    dbPoolMax: parsePoolMax(env.PARLEY_DB_POOL_MAX, inboundLoops),
    secretKey: parseSecret(env.PARLEY_SECRET_KEY),
    metaVerifyToken: env.PARLEY_META_VERIFY_TOKEN === undefined || env.PARLEY_META_VERIFY_TOKEN === '' ? null : env.PARLEY_META_VERIFY_TOKEN,
    metaAppSecrets: Object.freeze(parseList(env.PARLEY_META_APP_SECRET)),
    allowPrivateWebhooks: parseBoolean('PARLEY_ALLOW_PRIVATE_WEBHOOKS', env.PARLEY_ALLOW_PRIVATE_WEBHOOKS),
    webhookRetrySeconds: Object.freeze(parseDelays('PARLEY_WEBHOOK_RETRY_SECONDS', env.PARLEY_WEBHOOK_RETRY_SECONDS, [10, 40, 90])),
    metricsToken: env.PARLEY_METRICS_TOKEN === undefined || env.PARLEY_METRICS_TOKEN.trim() === '' ? null : env.PARLEY_METRICS_TOKEN.trim(),
    embeddedRestartSeconds: parsePositiveInt('PARLEY_EMBEDDED_RESTART_SECONDS', env.PARLEY_EMBEDDED_RESTART_SECONDS, 60),
    metaGraphUrl: parseBaseUrl('PARLEY_META_GRAPH_URL', env.PARLEY_META_GRAPH_URL, 'https://graph.facebook.com')!,
    metaTimeoutMs: parsePositiveInt('PARLEY_META_TIMEOUT_MS', env.PARLEY_META_TIMEOUT_MS, 15_000),
    publicUrl: parseBaseUrl('PARLEY_PUBLIC_URL', env.PARLEY_PUBLIC_URL, null),
  });
}
