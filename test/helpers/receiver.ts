// Outbound webhook tests: a real HTTP receiver (127.0.0.1, any free port) that records every
// request byte for byte and checks signatures with its own HMAC-SHA256 (written here from
// RFC 2104 over node's SHA-256, not Parley's signing code); plus small helpers to insert
// webhooks, build workers and drive them until a condition holds.
import assert from 'node:assert/strict';
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Kysely, sql } from 'kysely';
import pino from 'pino';
import { createDb, createPool } from '../../src/db/connection.ts';
import type { Database } from '../../src/db/schema.ts';
import { DeliveryWorker, type DeliveryWorkerOptions } from '../../src/webhooks/delivery-worker.ts';
import { type DispatcherOptions, WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Date.now() when the request's body was complete. */
  at: number;
  /** The status this receiver answered (null while hanging / never answered). */
  answered: number | null;
}

/** HMAC-SHA256 (RFC 2104) built from plain SHA-256, so it shares no code with Parley's signer. */
export function hmacSha256(key: Buffer | string, message: Buffer | string): Buffer {
  const BLOCK = 64;
  let k = Buffer.from(key);
  if (k.length > BLOCK) k = createHash('sha256').update(k).digest();
  const padded = Buffer.alloc(BLOCK, 0);
  k.copy(padded);
  const inner = Buffer.alloc(BLOCK);
  const outer = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = padded[i]! ^ 0x36;
    outer[i] = padded[i]! ^ 0x5c;
  }
  const innerHash = createHash('sha256').update(inner).update(Buffer.from(message)).digest();
  return createHash('sha256').update(outer).update(innerHash).digest();
}

export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private failures = 0;
  private failStatus = 500;
  private hanging = false;
  private held: http.ServerResponse[] = [];
  private server: http.Server | null = null;
  port = 0;

  /** Starts listening on 127.0.0.1 (`port` 0: any free port). */
  static async start(port = 0): Promise<Receiver> {
    const receiver = new Receiver();
    await receiver.listen(port);
    return receiver;
  }

  async listen(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const record: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), at: Date.now(), answered: null };
        this.requests.push(record);
        if (this.hanging) {
          this.held.push(res);
          return;
        }
        let status = 200;
        if (this.failures > 0) {
          this.failures -= 1;
          status = this.failStatus;
        }
        record.answered = status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The next `n` requests (Infinity: all) get `status` instead of 200. */
  failNext(n: number, status = 500): void {
    this.failures = n;
    this.failStatus = status;
  }

  /** While on, requests are recorded but never answered; turning it off drops the held ones. */
  hang(on: boolean): void {
    this.hanging = on;
    if (!on) {
      for (const res of this.held.splice(0)) res.destroy();
    }
  }

  on(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Whether the request carries a valid hex HMAC-SHA256 of its exact body bytes. */
  static verify(request: ReceivedRequest, secret: string): boolean {
    const header = request.headers['x-webhook-signature'];
    if (typeof header !== 'string' || !/^[0-9a-f]{64}$/.test(header)) return false;
    return timingSafeEqual(Buffer.from(header, 'hex'), hmacSha256(secret, request.body));
  }

  static json(request: ReceivedRequest): any {
    return JSON.parse(request.body.toString('utf8'));
  }

  /** Stops listening and cuts every open connection (held requests included). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.held.splice(0);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A TCP port that was free a moment ago (for a receiver that starts later). */
export async function freePort(): Promise<number> {
  const probe = await Receiver.start();
  const port = probe.port;
  await probe.close();
  return port;
}

export const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const RETRY_SECONDS = [0.2, 0.4, 0.6] as const;

export function deliveryWorker(db: Kysely<Database>, options: Partial<DeliveryWorkerOptions> = {}): DeliveryWorker {
  return new DeliveryWorker(db, silent, { pollMs: 50, retrySeconds: RETRY_SECONDS, allowPrivate: true, timeoutMs: 2000, ...options });
}

export function dispatcher(db: Kysely<Database>, options: Partial<DispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher(db, silent, { pollMs: 50, ...options });
}

/** A database handle on a pool of its own (another "node"). */
export function separateDb(url: string, max = 5): Kysely<Database> {
  return createDb(createPool(url, { max }));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `step` and then `check` every 20 ms until `check` returns something truthy, which is
 * returned; fails after `timeoutMs`.
 */
export async function until<T>(step: () => Promise<unknown>, check: () => T | Promise<T>, label: string, timeoutMs = 8000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await step();
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${label}`);
    await sleep(20);
  }
}

export async function projectId(db: Kysely<Database>, name: string): Promise<string> {
  return (await db.selectFrom('projects').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
}

export interface WebhookFields {
  project_id: string;
  url: string;
  phone_number_id?: string | null;
  kind?: 'kapso' | 'meta';
  events?: string[];
  active?: boolean;
  secret_key?: string | null;
  headers?: Record<string, string> | null;
  buffer_enabled?: boolean;
  buffer_window_seconds?: number;
  max_buffer_size?: number;
  buffer_events?: string[];
  inactivity_minutes?: number;
}

/** Inserts a webhook row directly (the API's own checks are tested elsewhere); returns its id. */
export async function insertWebhook(db: Kysely<Database>, fields: WebhookFields): Promise<string> {
  const { headers, ...rest } = fields;
  const row = await db
    .insertInto('webhooks')
    .values({ ...rest, headers: headers === undefined || headers === null ? null : JSON.stringify(headers) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function deliveriesOf(db: Kysely<Database>, webhookId: string) {
  return db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId).orderBy('created_at').orderBy('id').execute();
}

export async function attemptsOf(db: Kysely<Database>, deliveryId: string) {
  return db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

/** Outbox rows not yet dispatched (nor set aside) plus deliveries not yet finished, for one project. */
export async function pendingWork(db: Kysely<Database>, project: string): Promise<number> {
  const result = await sql<{ n: number }>`
    SELECT (SELECT count(*) FROM webhook_events WHERE project_id = ${project} AND dispatched_at IS NULL AND dead_at IS NULL)
         + (SELECT count(*) FROM webhook_deliveries WHERE project_id = ${project} AND status = 'pending') AS n`.execute(db);
  return Number(result.rows[0]!.n);
}
