// The rules of the webhook configuration API. A create starts from the defaults and an update
// from the stored row; either way the whole resulting configuration is checked, so no sequence
// of updates can reach a state a create would refuse.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import { pgErrorCode, pgErrorConstraint } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { notFound, unprocessable } from '../http/errors.ts';
import type { OffsetRequest } from '../http/pagination.ts';
import { findPhoneNumber } from '../phone-numbers/repo.ts';
import { DestinationError, parseWebhookUrl, resolveDestination } from './destination.ts';
import * as repo from './repo.ts';
import { BUFFERABLE_EVENTS, type ListWebhooksQuery, META_TEST_EVENT, NUMBER_EVENTS, PROJECT_EVENTS, type Webhook, type WebhookInput } from './schemas.ts';
import { UUID } from '../http/uuid.ts';

const WEBHOOK_NOT_FOUND = 'Webhook not found';
const NUMBER_NOT_FOUND = 'Phone number not found';
const FIELD = 'whatsapp_webhook';

export const MAX_HEADERS = 20;
const MAX_HEADER_VALUE = 2048;
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Headers Parley sets itself, or that would break the HTTP exchange. */
// Transport headers, and exactly the headers Parley sets on every delivery (other X-Webhook-*
// names, such as X-Webhook-Source, stay free for users).
const RESERVED_HEADERS = new Set([
  'content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'x-idempotency-key', 'x-batch-size', 'x-webhook-event', 'x-webhook-signature', 'x-webhook-payload-version', 'x-webhook-batch',
]);

export const DEFAULTS = { buffer_window_seconds: 5, max_buffer_size: 50, inactivity_minutes: 60, payload_version: 'v2' } as const;

const PROJECT_SET: ReadonlySet<string> = new Set(PROJECT_EVENTS);
const NUMBER_SET: ReadonlySet<string> = new Set(NUMBER_EVENTS);
const BUFFERABLE_SET: ReadonlySet<string> = new Set(BUFFERABLE_EVENTS);

/** `secret` is false in lists: a secret shows only on the webhook's own responses. */
export function toWebhook(row: repo.WebhookRow, options: { secret: boolean }): Webhook {
  return {
    id: row.id,
    url: row.url,
    kind: row.kind,
    events: row.events,
    active: row.active,
    secret_key: options.secret ? row.secret_key : null,
    headers: row.headers ?? {},
    phone_number_id: row.phone_number_id,
    buffer_enabled: row.buffer_enabled,
    buffer_window_seconds: row.buffer_window_seconds,
    max_buffer_size: row.max_buffer_size,
    buffer_events: row.buffer_events,
    inactivity_minutes: row.inactivity_minutes,
    payload_version: row.payload_version,
    project_id: row.project_id,
    created_at: isoMicros(row.created_at),
    updated_at: isoMicros(row.updated_at),
  };
}

const invalid = (field: string, rest: string) => unprocessable(`${FIELD}.${field} ${rest}`);

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function checkHeaders(headers: Record<string, string> | null): Record<string, string> | null {
  if (headers === null) return null;
  const names = Object.keys(headers);
  if (names.length > MAX_HEADERS) throw invalid('headers', `may hold at most ${MAX_HEADERS} headers`);
  const seen = new Set<string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) throw invalid('headers', `has an invalid header name: ${JSON.stringify(name)}`);
    if (RESERVED_HEADERS.has(lower)) throw invalid('headers', `must not set ${name}; Parley sets it`);
    if (seen.has(lower)) throw invalid('headers', `names ${name} twice`);
    seen.add(lower);
    const value = headers[name]!;
    // Tab is the only control character a field value may hold; CR/LF would split the header.
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw invalid(`headers.${name}`, 'must not contain control characters');
    // HTTP/1.1 carries header values as Latin-1: anything beyond could never be sent.
    if (/[^\u0009\u0020-\u00ff]/.test(value)) throw invalid(`headers.${name}`, 'must hold only printable ASCII or Latin-1 characters');
    if (value.length > MAX_HEADER_VALUE) throw invalid(`headers.${name}`, `must be at most ${MAX_HEADER_VALUE} characters`);
  }
  return names.length === 0 ? null : headers;
}

/** Refuses a URL that is malformed or reaches a private address (unless allowed). */
async function checkUrl(url: string, allowPrivate: boolean): Promise<void> {
  try {
    await resolveDestination(parseWebhookUrl(url), allowPrivate);
  } catch (error) {
    if (error instanceof DestinationError) throw unprocessable(`${FIELD}.${error.message}`);
    throw error;
  }
}

/**
 * Merges the input over the current configuration (the defaults for a create) and checks the
 * result. `given` is the input as sent: some rules are about what was asked for, not the result.
 */
export function resolveSettings(current: repo.WebhookValues, given: WebhookInput): repo.WebhookValues {
  if (given.kind !== undefined && given.kind !== current.kind) throw invalid('kind', 'cannot be changed after creation');
  const scoped = current.phone_number_id !== null;
  const next: repo.WebhookValues = {
    ...current,
    ...(given.url !== undefined ? { url: given.url } : {}),
    ...(given.active !== undefined ? { active: given.active } : {}),
    ...(given.secret_key !== undefined ? { secret_key: given.secret_key } : {}),
    ...(given.buffer_enabled !== undefined ? { buffer_enabled: given.buffer_enabled } : {}),
    ...(given.buffer_window_seconds !== undefined ? { buffer_window_seconds: given.buffer_window_seconds ?? DEFAULTS.buffer_window_seconds } : {}),
    ...(given.max_buffer_size !== undefined ? { max_buffer_size: given.max_buffer_size ?? DEFAULTS.max_buffer_size } : {}),
    ...(given.inactivity_minutes !== undefined ? { inactivity_minutes: given.inactivity_minutes ?? DEFAULTS.inactivity_minutes } : {}),
    ...(given.events !== undefined ? { events: unique(given.events) } : {}),
    ...(given.buffer_events !== undefined ? { buffer_events: unique(given.buffer_events) } : {}),
    ...(given.headers !== undefined ? { headers: checkHeaders(given.headers) } : {}),
  };
  if (given.payload_version !== undefined) {
    if (given.payload_version !== null && given.payload_version !== 'v2') throw invalid('payload_version', 'must be v2');
    next.payload_version = DEFAULTS.payload_version;
  }
  if (scoped && next.secret_key === null) throw invalid('secret_key', 'is required for phone number webhooks');

  if (next.kind === 'meta') {
    if (!scoped) throw invalid('phone_number_id', 'is required for meta webhooks');
    // Meta decides what it sends: any events given are dropped, and nothing is batched.
    if (given.buffer_enabled === true) throw invalid('buffer_enabled', 'is not supported for meta webhooks');
    if ((given.buffer_events?.length ?? 0) > 0) throw invalid('buffer_events', 'is not supported for meta webhooks');
    if (given.buffer_window_seconds != null) throw invalid('buffer_window_seconds', 'is not supported for meta webhooks');
    if (given.max_buffer_size != null) throw invalid('max_buffer_size', 'is not supported for meta webhooks');
    return { ...next, events: [], buffer_enabled: false, buffer_events: [] };
  }

  if (next.events.length === 0) throw invalid('events', 'must list at least one event for kapso webhooks');
  const allowed = scoped ? NUMBER_SET : PROJECT_SET;
  for (const event of next.events) {
    if (!PROJECT_SET.has(event) && !NUMBER_SET.has(event)) throw invalid('events', `contains an unknown event: ${event}`);
    if (!allowed.has(event)) {
      throw invalid(
        'events',
        scoped
          ? `contains ${event}, a project event; phone number webhooks take message and conversation events only`
          : `contains ${event}, which needs a phone number; project webhooks take phone number and contact events only`,
      );
    }
  }
  for (const event of next.buffer_events) {
    if (!BUFFERABLE_SET.has(event)) throw invalid('buffer_events', `may only contain ${BUFFERABLE_EVENTS.join(', ')}; got ${event}`);
    if (!next.events.includes(event)) throw invalid('buffer_events', `contains ${event}, which is not in events`);
  }
  if (next.buffer_enabled && next.buffer_events.length === 0) throw invalid('buffer_events', 'must list an event to batch when buffer_enabled is true');
  return next;
}

function storedSettings(row: repo.WebhookRow): repo.WebhookValues {
  const { id: _id, project_id: _project, created_at: _created, updated_at: _updated, ...values } = row;
  return values;
}

function newSettings(phoneNumberId: string | null, kind: string | undefined): repo.WebhookValues {
  return {
    phone_number_id: phoneNumberId,
    url: '',
    kind: kind === 'meta' ? 'meta' : 'kapso',
    events: [],
    active: true,
    secret_key: null,
    headers: null,
    buffer_enabled: false,
    buffer_window_seconds: DEFAULTS.buffer_window_seconds,
    max_buffer_size: DEFAULTS.max_buffer_size,
    buffer_events: [],
    inactivity_minutes: DEFAULTS.inactivity_minutes,
    payload_version: DEFAULTS.payload_version,
  };
}

function translateWriteError(error: unknown, phoneNumberId: string | null): never {
  if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'webhooks_one_meta_per_number') {
    throw invalid('kind', `meta is taken: phone number ${phoneNumberId ?? ''} already has a meta webhook`);
  }
  throw error;
}

function checkId(id: string): string {
  if (!UUID.test(id)) throw notFound(WEBHOOK_NOT_FOUND);
  return id.toLowerCase();
}

/** Reached through /whatsapp/phone_numbers/{id}/webhooks: the number's webhooks only. */
export interface NumberScope {
  phoneNumberId: string;
}

export class WebhooksService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: { allowPrivateWebhooks: boolean },
  ) {}

  private async requireNumber(projectId: string, phoneNumberId: string): Promise<void> {
    if (!(await findPhoneNumber(this.db, projectId, phoneNumberId))) throw notFound(NUMBER_NOT_FOUND);
  }

  /** The repo scope of a request; checks the number is connected when there is one. */
  private async scopeOf(projectId: string, scope: NumberScope | undefined): Promise<repo.WebhookScope> {
    if (!scope) return {};
    await this.requireNumber(projectId, scope.phoneNumberId);
    return { phoneNumberId: scope.phoneNumberId };
  }

  async create(projectId: string, input: WebhookInput & { url: string }, scope?: NumberScope): Promise<Webhook> {
    const phoneNumberId = scope?.phoneNumberId ?? input.phone_number_id ?? null;
    if (phoneNumberId !== null) await this.requireNumber(projectId, phoneNumberId);
    const values = resolveSettings(newSettings(phoneNumberId, input.kind), { ...input, kind: undefined });
    await checkUrl(values.url, this.options.allowPrivateWebhooks);
    try {
      return toWebhook(await repo.insertWebhook(this.db, projectId, values), { secret: true });
    } catch (error) {
      translateWriteError(error, phoneNumberId);
    }
  }

  async get(projectId: string, id: string, scope?: NumberScope): Promise<Webhook> {
    const webhookId = checkId(id);
    const row = await repo.findWebhook(this.db, projectId, webhookId, await this.scopeOf(projectId, scope));
    if (!row) throw notFound(WEBHOOK_NOT_FOUND);
    return toWebhook(row, { secret: true });
  }

  async update(projectId: string, id: string, input: WebhookInput, scope?: NumberScope): Promise<Webhook> {
    const webhookId = checkId(id);
    const repoScope = await this.scopeOf(projectId, scope);
    // Resolving the host may take a while: do it before any row is locked.
    if (input.url !== undefined) await checkUrl(input.url, this.options.allowPrivateWebhooks);
    return this.db.transaction().execute(async (tx) => {
      const current = await repo.findWebhook(tx, projectId, webhookId, repoScope, { forUpdate: true });
      if (!current) throw notFound(WEBHOOK_NOT_FOUND);
      const before = storedSettings(current);
      const next = resolveSettings(before, input);
      const changes = Object.fromEntries(Object.entries(next).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(before[key as keyof repo.WebhookValues])));
      try {
        const row = Object.keys(changes).length === 0 ? current : await repo.updateWebhook(tx, projectId, webhookId, changes);
        if (!row) throw notFound(WEBHOOK_NOT_FOUND);
        return toWebhook(row, { secret: true });
      } catch (error) {
        translateWriteError(error, current.phone_number_id);
      }
    });
  }

  async delete(projectId: string, id: string, scope?: NumberScope): Promise<void> {
    const webhookId = checkId(id);
    if (!(await repo.deleteWebhook(this.db, projectId, webhookId, await this.scopeOf(projectId, scope)))) throw notFound(WEBHOOK_NOT_FOUND);
  }

  async list(projectId: string, query: ListWebhooksQuery, offset: OffsetRequest, scope?: NumberScope) {
    const { rows, total } = await repo.listWebhooks(
      this.db,
      projectId,
      await this.scopeOf(projectId, scope),
      { kind: query.kind, urlContains: query.url_contains, active: query.active, createdAfter: query.created_after, createdBefore: query.created_before },
      (offset.page - 1) * offset.perPage,
      offset.perPage,
    );
    return { rows: rows.map((row) => toWebhook(row, { secret: false })), total };
  }

  /** Queues a sample event for this webhook alone; the dispatcher delivers it like any other. */
  async test(projectId: string, id: string, eventType: string | undefined): Promise<void> {
    const webhookId = checkId(id);
    await this.db.transaction().execute(async (tx) => {
      const webhook = await repo.findWebhook(tx, projectId, webhookId, {}, { forUpdate: true });
      if (!webhook) throw notFound(WEBHOOK_NOT_FOUND);
      // Deliveries skip paused webhooks; a test that can never arrive must not report success.
      if (!webhook.active) throw unprocessable('The webhook is paused (active is false); activate it to test it');
      let event: string;
      if (webhook.kind === 'meta') {
        if (eventType !== undefined && eventType !== META_TEST_EVENT) throw unprocessable(`event_type ${eventType} does not apply: meta webhooks subscribe to no events`);
        event = META_TEST_EVENT;
      } else {
        if (eventType !== undefined && !webhook.events.includes(eventType)) throw unprocessable(`event_type ${eventType} is not one of the webhook's events`);
        event = eventType ?? webhook.events[0]!;
      }
      await repo.queueTargetedEvent(tx, projectId, { phoneNumberId: webhook.phone_number_id, webhookId: webhook.id, event, subject: { sample: true } });
    });
  }
}
