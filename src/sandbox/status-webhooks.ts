// Meta's side of delivery: after an accepted send the stand-in posts signed webhooks with the
// message's statuses (sent → delivered → read, or sent → failed), one status per body as Meta
// does, in order, to the configured URL. A webhook that cannot be delivered is logged and
// dropped: the stand-in never stops, and never retries (tests should see what was lost).
import { createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { freshWamid } from './messages.ts';

export type StatusName = 'sent' | 'delivered' | 'read' | 'failed';

export interface StatusError {
  code: number;
  title: string;
  message?: string;
  error_data?: { details: string };
  href?: string;
}

export interface WebhookTarget {
  url: string;
  appSecret: string;
}

/** What the stand-in remembers of a sent message, to address its statuses. */
export interface SentMessage {
  wamid: string;
  phoneNumberId: string;
  waId: string | null;
  userId: string | null;
  /** Pricing category: service for free-form, the template's category (lower case) otherwise. */
  category: string;
  text: string | null;
  type: string;
}

export interface NumberMetadata {
  wabaId: string;
  displayPhoneNumber: string;
}

export interface DeliveryRecord {
  wamid: string | null;
  kind: StatusName | 'message';
  /** The receiver's HTTP status, or null when it could not be reached. */
  httpStatus: number | null;
  error: string | null;
  at: number;
}

export const unixNow = () => String(Math.floor(Date.now() / 1000));

export function signWebhook(body: string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

function envelope(pnid: string, meta: NumberMetadata, value: Record<string, unknown>) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: meta.wabaId, changes: [{ value: { messaging_product: 'whatsapp', metadata: { display_phone_number: meta.displayPhoneNumber, phone_number_id: pnid }, ...value }, field: 'messages' }] }],
  };
}

/** One status body in Meta's shape. */
export function statusPayload(message: SentMessage, meta: NumberMetadata, status: StatusName, options: { errors?: StatusError[]; conversationId: string; timestamp?: string }) {
  const entry: Record<string, unknown> = { id: message.wamid, status, timestamp: options.timestamp ?? unixNow(), recipient_id: message.waId ?? '' };
  if (message.userId) entry.recipient_user_id = message.userId;
  if (status === 'sent' || status === 'delivered') {
    const expires = String(Math.floor(Date.now() / 1000) + 24 * 3600);
    entry.conversation = { id: options.conversationId, origin: { type: message.category }, ...(status === 'sent' ? { expiration_timestamp: expires } : {}) };
    entry.pricing = { billable: message.category !== 'service', pricing_model: 'PMP', category: message.category, type: message.category === 'service' ? 'free_customer_service' : 'regular' };
  }
  if (status === 'failed') {
    entry.errors = (options.errors ?? [{ code: 131000, title: 'Something went wrong' }]).map((e) => ({
      code: e.code,
      title: e.title,
      message: e.message ?? e.title,
      error_data: e.error_data ?? { details: e.title },
      href: e.href ?? 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
    }));
  }
  return envelope(message.phoneNumberId, meta, { statuses: [entry] });
}

/** The recipient's reply to a text: an inbound message as Meta delivers it. */
export function echoPayload(message: SentMessage, meta: NumberMetadata) {
  const id = freshWamid(message.waId ?? message.userId ?? '');
  const contact: Record<string, unknown> = { profile: { name: 'Sandbox user' }, wa_id: message.waId ?? '' };
  const inbound: Record<string, unknown> = { from: message.waId ?? '', id, timestamp: unixNow(), type: 'text', text: { body: `Echo: ${message.text ?? `(${message.type})`}` }, context: { from: meta.displayPhoneNumber, id: message.wamid } };
  if (message.userId) {
    contact.user_id = message.userId;
    inbound.from_user_id = message.userId;
  }
  return envelope(message.phoneNumberId, meta, { contacts: [contact], messages: [inbound] });
}

export interface StatusWebhookOptions {
  target: WebhookTarget;
  delayMs: number;
  echo: boolean;
  metadata(pnid: string): NumberMetadata;
  log(line: string): void;
  /** How many deliveries to remember in `deliveries`. */
  keep?: number;
}

export class StatusWebhooks {
  readonly deliveries: DeliveryRecord[] = [];
  private readonly agent = new Agent({ connections: 32, keepAliveTimeout: 10_000 });
  private readonly timers = new Set<NodeJS.Timeout>();
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly conversations = new Map<string, string>();

  constructor(private readonly options: StatusWebhookOptions) {}

  private conversationOf(message: SentMessage): string {
    const key = `${message.phoneNumberId}:${message.waId ?? message.userId}:${message.category}`;
    let id = this.conversations.get(key);
    if (!id) {
      id = randomBytes(16).toString('hex');
      if (this.conversations.size > 50_000) this.conversations.clear();
      this.conversations.set(key, id);
    }
    return id;
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private remember(record: DeliveryRecord): void {
    this.deliveries.push(record);
    const keep = this.options.keep ?? 10_000;
    if (this.deliveries.length > keep) this.deliveries.splice(0, this.deliveries.length - keep);
  }

  /** Posts one body; never throws. Resolves with the receiver's status (null: unreachable). */
  async post(body: unknown, wamid: string | null, kind: DeliveryRecord['kind']): Promise<number | null> {
    if (this.closed) return null;
    const raw = JSON.stringify(body);
    try {
      const response = await request(this.options.target.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWebhook(raw, this.options.target.appSecret), 'user-agent': 'facebookexternalua' },
        body: raw,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await response.body.dump();
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      this.remember({ wamid, kind, httpStatus: response.statusCode, error: ok ? null : `answered ${response.statusCode}`, at: Date.now() });
      if (!ok) this.options.log(`webhook ${kind} for ${wamid ?? '-'} dropped: ${this.options.target.url} answered ${response.statusCode}`);
      return response.statusCode;
    } catch (error) {
      const cause = (error as { cause?: { code?: string }; code?: string }).cause?.code ?? (error as { code?: string }).code ?? (error as Error).message;
      this.remember({ wamid, kind, httpStatus: null, error: String(cause), at: Date.now() });
      if (!this.closed) this.options.log(`webhook ${kind} for ${wamid ?? '-'} dropped: ${this.options.target.url} unreachable (${String(cause)})`);
      return null;
    }
  }

  /** Posts one status for a message now. */
  sendStatus(message: SentMessage, status: StatusName, errors?: StatusError[]): Promise<number | null> {
    const body = statusPayload(message, this.options.metadata(message.phoneNumberId), status, { errors, conversationId: this.conversationOf(message) });
    return this.post(body, message.wamid, status);
  }

  /** The statuses of an accepted send, `delayMs` apart, in order; and the echo after `read`. */
  follow(message: SentMessage, failure: StatusError | null): void {
    this.pending += 1;
    const run = async () => {
      const steps: StatusName[] = failure ? ['sent', 'failed'] : ['sent', 'delivered', 'read'];
      for (const status of steps) {
        await this.wait(this.options.delayMs);
        if (this.closed) return;
        await this.sendStatus(message, status, failure && status === 'failed' ? [failure] : undefined);
      }
      if (this.options.echo && !failure && !this.closed) {
        await this.wait(this.options.delayMs);
        await this.post(echoPayload(message, this.options.metadata(message.phoneNumberId)), message.wamid, 'message');
      }
    };
    run()
      .catch((error: unknown) => this.options.log(`status webhooks for ${message.wamid} stopped: ${(error as Error).message}`))
      .finally(() => {
        this.pending -= 1;
        if (this.pending === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }

  /** Resolves when every scheduled status has been posted (or dropped). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  clear(): void {
    this.deliveries.splice(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    await this.agent.destroy();
  }
}
