// SQL of the outbound side: the outbox (webhook_events), deliveries, attempts and the
// inactivity sweep. Claims use FOR UPDATE SKIP LOCKED, so any number of nodes share the work.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';
import type { OutboxEvent } from './payloads.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export const WEBHOOK_EVENTS_CHANNEL = 'parley_webhook_events';
/** The payload on WEBHOOK_EVENTS_CHANNEL that says a webhook was created, changed or tested. */
export const WEBHOOKS_CHANGED = 'webhooks';
export const WEBHOOK_DELIVERIES_CHANNEL = 'parley_webhook_deliveries';

export interface TargetWebhook {
  id: string;
  url: string;
  kind: 'kapso' | 'meta';
  buffer_enabled: boolean;
  buffer_window_seconds: number;
  max_buffer_size: number;
  buffer_events: string[];
}

/** Project events go to project webhooks; message and conversation events to the number's. */
export function isProjectEvent(event: string): boolean {
  return event.startsWith('whatsapp.contact.') || event.startsWith('whatsapp.phone_number.');
}

export async function lockUndispatchedEvents(tx: Transaction<Database>, limit: number): Promise<OutboxEvent[]> {
  const result = await sql<OutboxEvent>`
    SELECT id, project_id, phone_number_id, webhook_id, event, subject, created_at, attempts FROM webhook_events
    WHERE dispatched_at IS NULL AND dead_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY created_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(tx);
  return result.rows;
}

/**
 * Counts a failed dispatch of one event: it waits `retryAfterSeconds` for its next try, or,
 * with null, is set aside as dead.
 */
export async function recordDispatchFailure(tx: Transaction<Database>, id: string, error: string, retryAfterSeconds: number | null): Promise<void> {
  const message = storableText(error);
  await sql`
    UPDATE webhook_events SET attempts = attempts + 1, last_error = ${message},
      next_attempt_at = CASE WHEN ${retryAfterSeconds}::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => ${retryAfterSeconds}::float8) END,
      dead_at = CASE WHEN ${retryAfterSeconds}::float8 IS NULL THEN now() ELSE NULL END
    WHERE id = ${id}`.execute(tx);
}

export async function markDispatched(tx: Transaction<Database>, ids: string[]): Promise<void> {
  if (ids.length > 0) await sql`UPDATE webhook_events SET dispatched_at = now() WHERE id = ANY(${ids}::uuid[])`.execute(tx);
}

const TARGET_COLUMNS = sql`id, url, kind, buffer_enabled, buffer_window_seconds, max_buffer_size, buffer_events`;

/** The webhooks that receive this event now (active, subscribed, right scope). */
export async function targetsOf(tx: Transaction<Database>, event: OutboxEvent): Promise<TargetWebhook[]> {
  if (event.webhook_id) {
    const one = await sql<TargetWebhook>`SELECT ${TARGET_COLUMNS} FROM webhooks WHERE id = ${event.webhook_id} AND active`.execute(tx);
    return one.rows;
  }
  if (event.event === 'meta.raw') {
    const meta = await sql<TargetWebhook>`
      SELECT ${TARGET_COLUMNS} FROM webhooks
      WHERE project_id = ${event.project_id} AND phone_number_id = ${event.phone_number_id} AND kind = 'meta' AND active`.execute(tx);
    return meta.rows;
  }
  const scope = isProjectEvent(event.event) ? sql`phone_number_id IS NULL` : sql`phone_number_id = ${event.phone_number_id}`;
  const result = await sql<TargetWebhook>`
    SELECT ${TARGET_COLUMNS} FROM webhooks
    WHERE project_id = ${event.project_id} AND kind = 'kapso' AND active AND ${event.event} = ANY(events) AND ${scope}`.execute(tx);
  return result.rows;
}

export interface NewDelivery {
  projectId: string;
  webhook: TargetWebhook;
  event: string;
  phoneNumberId: string | null;
  conversationId: string | null;
  conversationPhoneNumber: string | null;
  idempotencyKey: string;
  body: string;
}

/**
 * Adds a message to the open batch of its (webhook, conversation), or opens one due after the
 * buffer window. A batch that reaches max_buffer_size is due at once. A batch closes when its
 * first attempt starts (attempt_count > 0).
 */
export async function addToBatch(tx: Transaction<Database>, d: Omit<NewDelivery, 'body' | 'idempotencyKey'> & { item: unknown }): Promise<void> {
  // Each item is kept as its JSON text (a jsonb string): jsonb objects would reorder its keys.
  const item = JSON.stringify([JSON.stringify(d.item)]);
  const open = await sql<{ id: string }>`
    SELECT id FROM webhook_deliveries
    WHERE webhook_id = ${d.webhook.id} AND conversation_id IS NOT DISTINCT FROM ${d.conversationId} AND status = 'pending'
      AND batch_items IS NOT NULL AND attempt_count = 0 AND jsonb_array_length(batch_items) < ${d.webhook.max_buffer_size}
    ORDER BY created_at LIMIT 1 FOR UPDATE`.execute(tx);
  const existing = open.rows[0];
  if (existing) {
    await sql`
      UPDATE webhook_deliveries SET batch_items = batch_items || ${item}::jsonb,
        next_attempt_at = CASE WHEN jsonb_array_length(batch_items) + 1 >= ${d.webhook.max_buffer_size} THEN now() ELSE next_attempt_at END
      WHERE id = ${existing.id}`.execute(tx);
    return;
  }
  await sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, webhook_url, event, phone_number_id, conversation_id, conversation_phone_number, idempotency_key, batch_items, next_attempt_at)
    VALUES (${d.projectId}, ${d.webhook.id}, ${d.webhook.url}, ${d.event}, ${d.phoneNumberId}, ${d.conversationId}, ${d.conversationPhoneNumber},
            gen_random_uuid()::text, ${item}::jsonb,
            CASE WHEN ${d.webhook.max_buffer_size} <= 1 THEN now() ELSE now() + make_interval(secs => ${d.webhook.buffer_window_seconds}) END)`.execute(tx);
}

export interface ClaimedDelivery {
  id: string;
  webhook_id: string | null;
  event: string;
  body: string | null;
  /** Each item's JSON text, in arrival order. */
  batch_items: unknown[] | null;
  attempt_count: number;
  idempotency_key: string;
  url: string | null;
  kind: 'kapso' | 'meta' | null;
  secret_key: string | null;
  headers: Record<string, string> | null;
  active: boolean | null;
}

/**
 * Claims due deliveries: each gets its attempt number and a lease long enough for one attempt
 * (timeout plus margin). A node that dies mid-attempt leaves the lease to expire; the next
 * claim then makes that attempt again.
 */
export async function claimDueDeliveries(db: Executor, limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
  const result = await sql<ClaimedDelivery>`
    WITH claimed AS (
      UPDATE webhook_deliveries SET attempt_count = attempt_count + 1, locked_until = now() + make_interval(secs => ${leaseSeconds}), last_attempt_at = now()
      WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
        ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING id, webhook_id, event, body, batch_items, attempt_count, idempotency_key)
    SELECT c.*, w.url, w.kind, w.secret_key, w.headers, w.active
    FROM claimed c LEFT JOIN webhooks w ON w.id = c.webhook_id`.execute(db);
  return result.rows;
}

/** Freezes a batch's bytes at its first attempt, so every retry sends (and signs) the same. */
export async function setBody(db: Executor, id: string, body: string): Promise<void> {
  await sql`UPDATE webhook_deliveries SET body = ${body} WHERE id = ${id}`.execute(db);
}

export interface AttemptOutcome {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
  /** delivered, retry after this many seconds, or failed for good. */
  result: { delivered: true } | { retryAfterSeconds: number } | { failed: true };
}

/** Records the attempt and the delivery's new state in one statement (one commit). */
export async function recordAttempt(db: Kysely<Database>, o: AttemptOutcome): Promise<void> {
  await recordAttempts(db, [o]);
}

/**
 * The same for many attempts in one statement and one commit (src/webhooks/delivery-worker.ts
 * groups the outcomes that arrive together). Each delivery appears once: a node holds one attempt
 * per delivery at a time. Text cannot hold NUL; an error that quotes one must still be recorded.
 */
export async function recordAttempts(db: Kysely<Database>, outcomes: readonly AttemptOutcome[]): Promise<void[]> {
  const state = (o: AttemptOutcome) => ('delivered' in o.result ? 'delivered' : 'failed' in o.result ? 'failed' : 'pending');
  await sql`
    WITH o AS (
      SELECT * FROM unnest(${outcomes.map((o) => o.deliveryId)}::uuid[], ${outcomes.map((o) => o.attempt)}::int[],
        ${outcomes.map((o) => o.startedAt.toISOString())}::timestamptz[], ${outcomes.map((o) => Math.round(o.durationMs))}::int[],
        ${outcomes.map((o) => o.responseStatus)}::int[], ${outcomes.map((o) => (o.error === null ? null : storableText(o.error)))}::text[],
        ${outcomes.map(state)}::text[], ${outcomes.map((o) => ('retryAfterSeconds' in o.result ? o.result.retryAfterSeconds : 0))}::float8[])
        AS o(id, attempt, started_at, duration_ms, response_status, error, state, retry_after)),
    attempt AS (
      INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, response_status, error)
      SELECT id, attempt, started_at, duration_ms, response_status, error FROM o
      ON CONFLICT (delivery_id, attempt) DO NOTHING)
    UPDATE webhook_deliveries d SET
      status = o.state,
      delivered_at = CASE WHEN o.state = 'delivered' THEN now() ELSE d.delivered_at END,
      failed_at = CASE WHEN o.state = 'failed' THEN now() ELSE d.failed_at END,
      response_status = o.response_status,
      last_error = CASE WHEN o.state = 'delivered' THEN NULL ELSE o.error END,
      locked_until = NULL,
      next_attempt_at = CASE WHEN o.state = 'pending' THEN now() + make_interval(secs => o.retry_after) ELSE d.next_attempt_at END
    FROM o WHERE d.id = o.id`.execute(db);
  return outcomes.map(() => undefined);
}

/** Ends a delivery as failed with a reason and no new attempt row: the plainest record there is. */
export async function giveUpDelivery(db: Kysely<Database>, id: string, reason: string): Promise<void> {
  await sql`
    UPDATE webhook_deliveries SET status = 'failed', failed_at = now(), last_error = ${reason}, locked_until = NULL
    WHERE id = ${id} AND status = 'pending'`.execute(db);
}

/**
 * Outbox rows for Meta's raw payload, for numbers that have an active meta webhook. No NOTIFY:
 * this runs in the inbound worker's transaction (see outbox-signal.ts for how dispatchers wake).
 */
export async function emitMetaRaw(tx: Transaction<Database>, projectId: string, phoneNumberId: string, metaEventId: number): Promise<void> {
  await sql`
    INSERT INTO webhook_events (project_id, phone_number_id, event, subject)
    SELECT ${projectId}, ${phoneNumberId}, 'meta.raw', jsonb_build_object('meta_event_id', ${metaEventId}::bigint)
    WHERE EXISTS (SELECT 1 FROM webhooks WHERE project_id = ${projectId} AND phone_number_id = ${phoneNumberId} AND kind = 'meta' AND active)`.execute(tx);
}

export async function metaEventBody(db: Executor, id: number): Promise<string | null> {
  const result = await sql<{ body: string }>`SELECT body FROM meta_events WHERE id = ${id}`.execute(db);
  return result.rows[0]?.body ?? null;
}

/**
 * Queues `whatsapp.conversation.inactive` once per webhook, conversation and quiet period:
 * the notice table remembers which last_active_at was already reported.
 */
export async function queueInactivityEvents(db: Kysely<Database>): Promise<number> {
  const result = await sql`
    WITH due AS (
      SELECT w.id AS webhook_id, w.project_id, w.phone_number_id, w.inactivity_minutes, c.id AS conversation_id, c.last_active_at
      FROM webhooks w
      JOIN conversations c ON c.project_id = w.project_id AND c.phone_number_id = w.phone_number_id
      WHERE w.active AND w.kind = 'kapso' AND 'whatsapp.conversation.inactive' = ANY (w.events) AND c.status = 'active'
        AND c.last_active_at < now() - make_interval(mins => w.inactivity_minutes)
    ), noted AS (
      INSERT INTO webhook_inactivity_notices (webhook_id, conversation_id, last_active_at)
      SELECT webhook_id, conversation_id, last_active_at FROM due
      ON CONFLICT DO NOTHING
      RETURNING webhook_id, conversation_id
    )
    INSERT INTO webhook_events (project_id, phone_number_id, webhook_id, event, subject)
    SELECT d.project_id, d.phone_number_id, d.webhook_id, 'whatsapp.conversation.inactive',
      jsonb_build_object('conversation_id', d.conversation_id, 'minutes', d.inactivity_minutes,
        'since_message', (SELECT jsonb_build_object('id', m.id, 'whatsapp_message_id', m.wamid, 'direction', m.direction,
                                                    'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                          FROM messages m WHERE m.conversation_id = d.conversation_id AND m.type <> 'system' ORDER BY m.created_at DESC LIMIT 1))
    FROM due d JOIN noted n ON n.webhook_id = d.webhook_id AND n.conversation_id = d.conversation_id`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Whether any webhook is active: while none is, writes need not wake any dispatcher. */
export async function anyActiveWebhook(db: Kysely<Database>): Promise<boolean> {
  const result = await sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM webhooks WHERE active) AS any`.execute(db);
  return result.rows[0]?.any === true;
}

/** Inserts many deliveries in one statement. */
export async function insertDeliveries(tx: Transaction<Database>, deliveries: NewDelivery[]): Promise<void> {
  for (let start = 0; start < deliveries.length; start += 500) {
    const chunk = deliveries.slice(start, start + 500);
    await tx
      .insertInto('webhook_deliveries')
      .values(
        chunk.map((d) => ({
          project_id: d.projectId,
          webhook_id: d.webhook.id,
          webhook_url: d.webhook.url,
          event: d.event,
          phone_number_id: d.phoneNumberId,
          conversation_id: d.conversationId,
          conversation_phone_number: d.conversationPhoneNumber,
          idempotency_key: d.idempotencyKey,
          body: d.body,
        })),
      )
      .execute();
  }
}

/** Dispatched outbox rows are kept a day (for inspection), then deleted. */
export async function purgeDispatchedEvents(db: Kysely<Database>): Promise<number> {
  const result = await sql`DELETE FROM webhook_events WHERE dispatched_at < now() - interval '1 day'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
