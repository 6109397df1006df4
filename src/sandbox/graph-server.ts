// The stand-in Graph API: one small node:http program that answers what Parley (and Kapso's SDK
// through Parley) asks of Meta, so that tests, `parley sandbox` and the benchmarks never need
// Meta. It checks the Bearer token, answers in Meta's shapes, records every call, can be told
// to fail, and posts signed status webhooks for the messages it accepts.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Accounts, type PhoneNumberFields, type PhoneNumberState, type WabaFields } from './accounts.ts';
import { GraphError, invalidParameter, missingToken, unsupported, wrongToken } from './graph-errors.ts';
import { type Answer, ownerOf, route, type RouteServices } from './graph-routes.ts';
import { type MediaObject, MediaStore } from './media-store.ts';
import type { AcceptedSend } from './messages.ts';
import { type SentMessage, type StatusError, type StatusName, StatusWebhooks } from './status-webhooks.ts';
import { type Template, type TemplateSeed, type TemplateStatus, TemplateStore } from './templates.ts';

export interface StandInGraphOptions {
  host?: string;
  /** 0 (the default): any free port. */
  port?: number;
  /** The token each phone number (or WABA) id accepts, or a predicate; ids not in a map accept any token. */
  tokens?: Record<string, string> | ((id: string, token: string) => boolean);
  /** Where status webhooks go, signed with the app secret; none are sent without it. */
  webhook?: { url: string; appSecret: string };
  /** Between an accepted send and `sent`, and between later statuses. Default 300; 0: at once. */
  statusDelayMs?: number;
  /** Post sent → delivered → read by themselves (default true when `webhook` is set). */
  autoStatuses?: boolean;
  /** After `read`, the recipient answers "Echo: <text>". */
  echo?: boolean;
  /** The WABA of numbers not configured otherwise. */
  wabaId?: string;
  phoneNumbers?: Record<string, Partial<PhoneNumberFields> & { wabaId?: string }>;
  /** What a newly created template's status is (default APPROVED, so tests can send it at once). */
  templateStatus?: 'APPROVED' | 'PENDING';
  /** Refuse template sends (132001) whose name and language the number's WABA does not hold. */
  strictTemplates?: boolean;
  /** How many calls `requests` keeps (the oldest go first). Default 10,000. */
  keepRequests?: number;
  /** Lines about dropped webhooks and the like; silent by default. */
  log?: (line: string) => void;
  /** Called once each call has been answered (or cut off). */
  onRequest?: (call: RecordedRequest) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, form fields or text; for multipart `{multipart, bytes, fields, files}`. */
  body: unknown;
  at: number;
  /** The answer's status; null when none was given (a `down` fault, a cut connection). */
  status: number | null;
}

type FaultMatch = string | RegExp | ((call: { method: string; path: string }) => boolean);

export type Fault = (
  | { kind: 'down' }
  | { kind: 'slow'; ms: number }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
) & {
  /** Only the next N matching calls (default: until cleared). */
  times?: number;
  /** A path substring, a RegExp tested on the path, or a predicate. Default: every call. */
  match?: FaultMatch;
};

export interface StandInGraph {
  url: string;
  port: number;
  requests: RecordedRequest[];
  clearRequests(): void;
  setFault(fault: Fault): void;
  clearFaults(): void;
  /** Faults, recorded calls, webhook log and all state (numbers, media, templates, flows) back to the start. */
  reset(): void;
  /** Posts one status webhook for a message this stand-in accepted; resolves with the receiver's HTTP status. */
  sendStatus(wamid: string, status: StatusName, options?: { errors?: StatusError[] }): Promise<number | null>;
  /** The messages accepted, by wamid (the most recent 100,000). */
  sent: Map<string, SentMessage>;
  /** Each webhook posted: wamid, kind, the receiver's status or the error. */
  webhookDeliveries(): readonly { wamid: string | null; kind: string; httpStatus: number | null; error: string | null; at: number }[];
  /** Resolves when every scheduled status webhook has been posted or dropped. */
  idle(): Promise<void>;
  addMedia(input: { id?: string; mimeType: string; bytes: Buffer | string; phoneNumberId?: string; filename?: string }): MediaObject;
  media(id: string): MediaObject | undefined;
  addTemplate(seed: TemplateSeed & { wabaId?: string }): Template;
  setTemplateStatus(id: string, status: TemplateStatus): void;
  setPhoneNumber(id: string, patch: Partial<PhoneNumberFields> & { wabaId?: string }): PhoneNumberState;
  setWaba(id: string, patch: Partial<WabaFields>): void;
  close(): Promise<void>;
}

export const SANDBOX_WABA_ID = '102290129340398';
const JSON_TYPE = 'application/json; charset=UTF-8';
const BODY_LIMIT = 10 * 1024 * 1024;
const VERSION = /^v\d{1,3}\.\d{1,3}$/;
const KEEP_SENT = 100_000;

function faultMatches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (match === undefined) return true;
  if (typeof match === 'string') return path.includes(match);
  if (match instanceof RegExp) return match.test(path);
  return match({ method, path });
}

function defaultErrorBody(status: number) {
  if (status === 429) return new GraphError(429, '(#4) Application request limit reached', 'OAuthException', 4).body();
  if (status === 401) return wrongToken().body();
  if (status >= 500) return new GraphError(status, status === 503 ? 'Service temporarily unavailable' : 'An unknown error has occurred.', 'OAuthException', status === 503 ? 2 : 1).body();
  return invalidParameter('the stand-in was told to fail this call').body();
}

function bearerOf(req: http.IncomingMessage, query: URLSearchParams): string | null {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  // Meta also takes the token in the query (its own paging links do so).
  return query.get('access_token');
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new GraphError(413, 'Request body is too large', 'OAuthException', 100);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      throw invalidParameter('the request body is not valid JSON');
    }
  }
  if (contentType && /x-www-form-urlencoded/i.test(contentType)) return Object.fromEntries(new URLSearchParams(text));
  // Meta reads a JSON body even when the client forgot its content type.
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text.length > 4096 ? { bytes: raw.length } : text;
}

function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of query) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const isUpload = (method: string, segments: string[]) => method === 'POST' && segments.length === 2 && (segments[1] === 'media' || segments[1] === 'assets');

export async function startStandInGraph(options: StandInGraphOptions = {}): Promise<StandInGraph> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const keep = options.keepRequests ?? 10_000;
  const accounts = new Accounts(options.wabaId ?? SANDBOX_WABA_ID);
  const media = new MediaStore();
  const templates = new TemplateStore(options.templateStatus ?? 'APPROVED');
  const requests: RecordedRequest[] = [];
  const sent = new Map<string, SentMessage>();
  let faults: (Fault & { left: number })[] = [];
  const slowTimers = new Set<NodeJS.Timeout>();
  const seedNumbers = () => {
    for (const [id, patch] of Object.entries(options.phoneNumbers ?? {})) accounts.setNumber(id, patch);
  };
  seedNumbers();

  const webhooks = options.webhook
    ? new StatusWebhooks({
        target: options.webhook,
        delayMs: options.statusDelayMs ?? 300,
        echo: options.echo ?? false,
        log,
        metadata: (pnid) => ({ wabaId: accounts.number(pnid).wabaId, displayPhoneNumber: accounts.displayDigits(pnid) }),
      })
    : null;
  const autoStatuses = webhooks !== null && (options.autoStatuses ?? true);
  let base = '';

  const services: RouteServices = {
    accounts,
    media,
    templates,
    strictTemplates: options.strictTemplates ?? false,
    base: () => base,
    accepted(send: AcceptedSend, phoneNumberId: string) {
      const number = accounts.number(phoneNumberId);
      // Statuses are priced like Meta's: free-form replies as service, templates by their category.
      const category = send.template ? (templates.categoryOf(number.wabaId, send.template.name, send.template.language) ?? 'MARKETING').toLowerCase() : 'service';
      const message: SentMessage = { wamid: send.wamid, phoneNumberId, waId: send.waId, userId: send.userId, category, text: send.text, type: send.type };
      sent.set(send.wamid, message);
      if (sent.size > KEEP_SENT) sent.delete(sent.keys().next().value!);
      if (autoStatuses) {
        const fails = send.trigger?.fails;
        webhooks!.follow(message, fails ? { code: fails.code, title: fails.title, message: fails.title, error_data: { details: fails.details } } : null);
      }
    },
  };

  const record = (entry: RecordedRequest) => {
    requests.push(entry);
    if (requests.length > keep) requests.splice(0, requests.length - keep);
  };

  const takeFault = (method: string, path: string): Fault | null => {
    for (const fault of faults) {
      if (fault.left <= 0 || !faultMatches(fault.match, method, path)) continue;
      fault.left -= 1;
      return fault;
    }
    return null;
  };

  const checkToken = (token: string, id: string) => {
    const tokens = options.tokens;
    if (!tokens) return;
    const owner = ownerOf(services, id);
    const fits = typeof tokens === 'function' ? tokens(owner, token) : tokens[owner] === undefined || tokens[owner] === token;
    if (!fits) throw wrongToken();
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, entry: RecordedRequest, url: URL): Promise<Answer | null> {
    const method = entry.method;
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const upload = isUpload(method, segments.slice(1));
    if (!upload) {
      const raw = await readBody(req);
      entry.body = parseBody(raw, req.headers['content-type']);
    }
    const fault = takeFault(method, url.pathname);
    if (fault?.kind === 'down') {
      req.socket.destroy();
      return null;
    }
    if (fault?.kind === 'slow') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          slowTimers.delete(timer);
          resolve();
        }, fault.ms);
        slowTimers.add(timer);
      });
    }
    if (fault?.kind === 'error') {
      const body = fault.body ?? defaultErrorBody(fault.status);
      if (upload) req.resume();
      send(res, fault.status, body, fault.headers);
      return { status: fault.status, body };
    }
    const token = bearerOf(req, url.searchParams);
    if (segments[0] === 'media-files' && segments.length === 2) {
      if (!token) throw missingToken();
      const object = media.get(segments[1]!);
      if (!object || !media.validSignature(object.id, url.searchParams.get('sig'))) throw unsupported(method, segments[1]!);
      checkToken(token, object.id);
      res.writeHead(200, { 'content-type': object.mimeType, 'content-length': object.fileSize, 'cache-control': 'private' });
      await new Promise<void>((resolve, reject) => fs.createReadStream(object.file).on('error', reject).on('end', resolve).pipe(res));
      return { status: 200, body: null };
    }
    if (segments[0] === 'flow-assets' && segments.length === 3) {
      const flow = accounts.flows.get(segments[1]!);
      if (!token) throw missingToken();
      if (!flow || flow.flowJson === null) throw unsupported(method, segments[1]!);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(flow.flowJson) }).end(flow.flowJson);
      return { status: 200, body: null };
    }
    if (segments.length === 0 || !VERSION.test(segments[0]!)) throw unsupported(method, segments.join('/'));
    if (!token) throw missingToken();
    if (segments[1] !== undefined) checkToken(token, segments[1]);
    const noteBody = (note: unknown) => (entry.body = note);
    const answer = await route({ method, version: segments[0]!, segments: segments.slice(1), query: url.searchParams, token, req, body: entry.body, noteBody }, services);
    send(res, answer.status, answer.body);
    return answer;
  }

  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const entry: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: queryRecord(url.searchParams), headers: req.headers, body: undefined, at: Date.now(), status: null };
    record(entry);
    handle(req, res, entry, url)
      .then(
        (answer) => {
          entry.status = answer?.status ?? null;
        },
        (error: unknown) => {
          const graphError = error instanceof GraphError ? error : null;
          if (!graphError) log(`stand-in error on ${entry.method} ${entry.path}: ${(error as Error).message}`);
          const failure = graphError ?? new GraphError(500, 'An unknown error has occurred.', 'OAuthException', 1);
          entry.status = failure.status;
          if (res.headersSent) {
            res.destroy();
            return;
          }
          // An upload refused half-way: read the rest so the client sees the answer, not a reset.
          if (!req.complete) req.resume();
          send(res, failure.status, failure.body(), failure.options.headers);
        },
      )
      .finally(() => options.onRequest?.(entry));
  });
  // The benchmark keeps thousands of sends a second on a few connections.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  base = `http://${shownHost}:${port}`;

  return {
    url: base,
    port,
    requests,
    clearRequests: () => void requests.splice(0),
    setFault(fault) {
      faults.push({ ...fault, left: fault.times ?? Number.POSITIVE_INFINITY });
    },
    clearFaults() {
      faults = [];
    },
    reset() {
      faults = [];
      requests.splice(0);
      sent.clear();
      webhooks?.clear();
      media.clear();
      templates.clear();
      accounts.clear();
      seedNumbers();
    },
    sendStatus(wamid, status, statusOptions = {}) {
      const message = sent.get(wamid);
      if (!message) return Promise.reject(new Error(`the stand-in sent no message ${wamid}`));
      if (!webhooks) return Promise.reject(new Error('the stand-in has no webhook URL (options.webhook)'));
      return webhooks.sendStatus(message, status, statusOptions.errors);
    },
    sent,
    webhookDeliveries: () => webhooks?.deliveries ?? [],
    idle: () => webhooks?.idle() ?? Promise.resolve(),
    addMedia: (input) => media.add(input),
    media: (id) => media.get(id),
    addTemplate: ({ wabaId, ...seed }) => templates.add(wabaId ?? accounts.defaultWabaId, seed),
    setTemplateStatus(id, status) {
      if (!templates.setStatus(id, status)) throw new Error(`no template ${id}`);
    },
    setPhoneNumber: (id, patch) => accounts.setNumber(id, patch),
    setWaba: (id, patch) => void accounts.setWaba(id, patch),
    async close() {
      for (const timer of slowTimers) clearTimeout(timer);
      await webhooks?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      media.close();
    },
  };
}
