// The one way Parley talks to Meta's Graph API. It owns the base URL, the keep-alive connection
// pool, the timeout, the opening of sealed access tokens and the count of every call in /metrics.
// No other module builds a Graph URL or holds a token in clear.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { Agent, type Dispatcher, errors as undiciErrors, request as undiciRequest } from 'undici';
import type { TokenCipher } from '../phone-numbers/token-cipher.ts';

/** Graph API versions look like v23.0; the proxy forwards whichever the client asked for. */
export const GRAPH_VERSION = /^v\d{1,3}\.\d{1,3}$/;
/** The version Parley uses for calls of its own (health checks, template and media fetches). */
export const DEFAULT_GRAPH_VERSION = 'v23.0';

export interface GraphClientOptions {
  /** PARLEY_META_GRAPH_URL, without a trailing slash. */
  baseUrl: string;
  timeoutMs: number;
  cipher: TokenCipher;
  logger: Logger;
  /** Open connections to the Graph API; sends must never wait for connection set-up. */
  connections?: number;
}

export interface GraphCall {
  method: string;
  version: string;
  /** Below the version, without a leading slash: `123/messages`. */
  path: string;
  /** The query string without `?`, passed on as written. */
  query?: string;
  /** The number's sealed access token (phone_numbers.access_token_sealed). */
  sealedToken: Buffer;
  contentType?: string;
  contentLength?: number;
  body?: Buffer | string | Readable | null;
  /** Overrides the configured timeout (uploads of 100 MB take longer than a send). */
  timeoutMs?: number;
}

export interface GraphReply {
  status: number;
  contentType: string | null;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** Meta could not be reached, or did not answer in time: the caller answers 502 or 504. */
export class GraphUnavailableError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    message: string,
  ) {
    super(message);
  }
}

/** Opened tokens kept per client; a changed token is a new sealed value, so an entry never goes stale. */
const OPENED_TOKENS_MAX = 1_000;

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The metric label of a Graph path: words are kept (messages, media, message_templates), ids of
 * numbers, media and templates become `{id}`, so that the label set stays small.
 */
export function endpointLabel(path: string): string {
  const segments = path.split('/').filter(Boolean).map((s) => (/^[a-z_]+$/.test(s) ? s : '{id}'));
  return segments.length === 0 ? '/' : segments.slice(0, 4).join('/');
}

export class GraphClient {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly agent: Agent;
  private calls: Counter<'method' | 'endpoint' | 'status'> | null = null;
  private duration: Histogram<'method' | 'endpoint'> | null = null;
  /** Sealed token (base64) → the token: one AES-GCM open per token and node, not one per call. */
  private readonly opened = new Map<string, string>();

  constructor(private readonly options: GraphClientOptions) {
    const url = new URL(options.baseUrl);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.agent = new Agent({ connections: options.connections ?? 256, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 });
  }

  /** Counts calls in this registry (GET /metrics); without one they are only logged. */
  registerMetrics(registry: Registry): void {
    const registers = [registry];
    this.calls = new Counter({
      name: 'parley_meta_requests_total',
      help: 'Calls Parley made to the Graph API, by method, endpoint shape and status (timeout, unreachable when none came)',
      labelNames: ['method', 'endpoint', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'parley_meta_request_duration_seconds',
      help: 'Time until the Graph API answered the status line, by method and endpoint shape',
      labelNames: ['method', 'endpoint'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }

  private bearer(sealed: Buffer): string {
    const key = sealed.toString('base64');
    let header = this.opened.get(key);
    if (header === undefined) {
      header = `Bearer ${this.options.cipher.open(sealed)}`;
      if (this.opened.size >= OPENED_TOKENS_MAX) this.opened.clear();
      this.opened.set(key, header);
    }
    return header;
  }

  /** Makes one call. The body of the reply must be consumed or dumped by the caller. */
  async call(call: GraphCall): Promise<GraphReply> {
    if (!GRAPH_VERSION.test(call.version)) throw new Error(`not a Graph API version: ${call.version}`);
    const path = `${this.basePath}/${call.version}/${call.path.replace(/^\/+/, '')}${call.query ? `?${call.query}` : ''}`;
    const headers: Record<string, string> = { authorization: this.bearer(call.sealedToken), accept: 'application/json' };
    if (call.contentType) headers['content-type'] = call.contentType;
    if (call.contentLength !== undefined) headers['content-length'] = String(call.contentLength);
    const endpoint = endpointLabel(call.path);
    const timeout = call.timeoutMs ?? this.options.timeoutMs;
    const started = performance.now();
    try {
      const response = await undiciRequest(`${this.origin}${path}`, {
        method: call.method as Dispatcher.HttpMethod,
        headers,
        body: call.body ?? null,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const seconds = (performance.now() - started) / 1000;
      this.calls?.inc({ method: call.method, endpoint, status: String(response.statusCode) });
      this.duration?.observe({ method: call.method, endpoint }, seconds);
      // The endpoint's shape only: paths carry ids, queries may carry personal data; never the token.
      if (this.options.logger.isLevelEnabled('info')) {
        this.options.logger.info({ method: call.method, endpoint, status: response.statusCode, ms: Math.round(seconds * 10000) / 10 }, 'graph api call');
      }
      const type = response.headers['content-type'];
      return { status: response.statusCode, contentType: typeof type === 'string' ? type : null, headers: response.headers, body: response.body };
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const kind = TIMEOUT_CODES.has(code) || error instanceof undiciErrors.HeadersTimeoutError ? 'timeout' : 'unreachable';
      this.calls?.inc({ method: call.method, endpoint, status: kind });
      // The message names the endpoint shape and the cause, never the URL's ids or the token.
      this.options.logger.warn({ method: call.method, endpoint, cause: code || (error as Error).message }, `graph api ${kind}`);
      throw new GraphUnavailableError(kind, kind === 'timeout' ? `The Graph API did not answer within ${timeout} ms` : 'The Graph API could not be reached');
    }
  }

  /**
   * GET of an absolute URL that Meta handed out (a media file's `url`), with the number's token:
   * those URLs live on Meta's file hosts, not under the Graph API's base.
   */
  async download(url: string, sealedToken: Buffer, timeoutMs?: number): Promise<GraphReply> {
    const target = new URL(url);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new GraphUnavailableError('unreachable', 'The media URL Meta gave is not http(s)');
    const timeout = timeoutMs ?? this.options.timeoutMs;
    try {
      const response = await undiciRequest(target, {
        method: 'GET',
        headers: { authorization: this.bearer(sealedToken) },
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      this.calls?.inc({ method: 'GET', endpoint: 'media_file', status: String(response.statusCode) });
      const type = response.headers['content-type'];
      return { status: response.statusCode, contentType: typeof type === 'string' ? type : null, headers: response.headers, body: response.body };
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const kind = TIMEOUT_CODES.has(code) ? 'timeout' : 'unreachable';
      this.calls?.inc({ method: 'GET', endpoint: 'media_file', status: kind });
      this.options.logger.warn({ endpoint: 'media_file', cause: code || (error as Error).message }, `graph api ${kind}`);
      throw new GraphUnavailableError(kind, kind === 'timeout' ? `Meta's media host did not answer within ${timeout} ms` : "Meta's media host could not be reached");
    }
  }

  /** A call whose answer is read whole as JSON (Parley's own calls: health, templates, media metadata). */
  async callJson(call: GraphCall): Promise<{ status: number; body: unknown }> {
    const reply = await this.call(call);
    const text = await reply.body.text();
    let body: unknown = text;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      // Left as text: the caller reports an answer that was not JSON.
    }
    return { status: reply.status, body };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
