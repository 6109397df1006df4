// Turns outbox rows into deliveries: for each event, the webhooks that want it, with the body
// rendered once (so every retry sends the same bytes). Runs in batches, each in one
// transaction with its events locked, so several nodes never dispatch an event twice.
//
// A batch first goes the fast way: one contact query, one insert. When that fails, the same
// events are dispatched again one at a time, each under its own savepoint, so one event that
// cannot be dispatched never holds up the others: it waits (retrySeconds) and is tried again,
// and after its last try it is set aside as dead with its error (webhook_events.dead_at,
// last_error), where an operator can read it.
import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { findContactsByIds } from '../contacts/repo.ts';
import { isDatabaseUnavailable, isTransientConflict } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { UUID } from '../http/uuid.ts';
import { BatchWorker } from '../jobs/polling-loop.ts';
import { type OutboxEvent, type Prefetched, renderEvent } from './payloads.ts';
import {
  addToBatch, insertDeliveries, lockUndispatchedEvents, markDispatched, metaEventBody, type NewDelivery, recordDispatchFailure, type TargetWebhook, targetsOf,
} from './outbox-repo.ts';

type Tx = Transaction<Database>;

/** Waits before each further try of an event that failed; one try more than entries, then dead. */
export const DISPATCH_RETRY_SECONDS = [5, 30, 120, 600] as const;

export interface DispatcherOptions {
  pollMs: number;
  retrySeconds?: readonly number[];
  /**
   * Called after a batch that queued deliveries has committed (the server wakes the delivery
   * workers). Not a NOTIFY inside the batch: that would serialise its commit with every other.
   */
  onQueued?: () => void;
  /** Called at the start of each pass (the server refreshes whether any webhook is active). */
  onPass?: () => void;
}

const isContactEvent = (event: OutboxEvent) => event.event === 'whatsapp.contact.created' || event.event === 'whatsapp.contact.updated';

export class WebhookDispatcher extends BatchWorker {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    super(logger, options.pollMs, 'webhook dispatcher');
  }

  protected override loopPass(): Promise<number> {
    this.options.onPass?.();
    return this.drain();
  }

  protected async batch(limit = 200): Promise<number> {
    const { events, queued } = await this.dispatchBatch(limit);
    if (queued > 0) this.options.onQueued?.();
    return events;
  }

  private async dispatchBatch(limit: number): Promise<{ events: number; queued: number }> {
    try {
      return await this.db.transaction().execute((tx) => this.wholeBatch(tx, limit));
    } catch (error) {
      // Without a database the careful way fails too: the loop backs off and logs the outage once.
      if (isDatabaseUnavailable(error)) throw error;
      // Whatever else failed (one event, or something of the database's), the careful way finds out.
      this.logger.info({ error: error instanceof Error ? error.message : String(error) }, 'webhook dispatch batch failed; dispatching its events one at a time');
    }
    return this.oneByOne(limit);
  }

  /** The fast way: a batch's events in one go. Any failure rolls the whole batch back. */
  private async wholeBatch(tx: Tx, limit: number): Promise<{ events: number; queued: number }> {
    const events = await lockUndispatchedEvents(tx, limit);
    // Within a batch, events mostly share their targets and are mostly about contacts: look
    // each set of targets up once, load the contacts in one query, insert in one statement.
    const targets = new Map<string, Promise<TargetWebhook[]>>();
    const targetsFor = (event: OutboxEvent) => {
      const key = `${event.project_id}|${event.phone_number_id}|${event.event}|${event.webhook_id}`;
      if (!targets.has(key)) targets.set(key, targetsOf(tx, event));
      return targets.get(key)!;
    };
    // Samples (tests) name no contact; a subject that names none cannot be prefetched either.
    const contactIds = events
      .filter((e) => isContactEvent(e) && e.subject.sample !== true)
      .map((e) => e.subject.contact_id)
      .filter((id): id is string => typeof id === 'string' && UUID.test(id));
    const prefetched: Prefetched = new Map((await findContactsByIds(tx, [...new Set(contactIds)])).map((row) => [row.id, row]));
    const deliveries: NewDelivery[] = [];
    let queued = 0;
    for (const event of events) queued += await this.render(tx, event, await targetsFor(event), prefetched, deliveries);
    await insertDeliveries(tx, deliveries);
    queued += deliveries.length;
    await markDispatched(tx, events.map((e) => e.id));
    return { events: events.length, queued };
  }

  /** The careful way: each event under its own savepoint; a failing one is counted and skipped. */
  private async oneByOne(limit: number): Promise<{ events: number; queued: number }> {
    const failures: { id: string; error: string; attempt: number; dead: boolean }[] = [];
    let transient = 0;
    let queued = 0;
    const handled = await this.db.transaction().execute(async (tx) => {
      const events = await lockUndispatchedEvents(tx, limit);
      for (const event of events) {
        await sql`SAVEPOINT event`.execute(tx);
        try {
          const deliveries: NewDelivery[] = [];
          const batched = await this.render(tx, event, await targetsOf(tx, event), undefined, deliveries);
          await insertDeliveries(tx, deliveries);
          await markDispatched(tx, [event.id]);
          await sql`RELEASE SAVEPOINT event`.execute(tx);
          queued += batched + deliveries.length;
        } catch (error) {
          await sql`ROLLBACK TO SAVEPOINT event`.execute(tx);
          await sql`RELEASE SAVEPOINT event`.execute(tx);
          if (isTransientConflict(error)) {
            transient += 1;
            continue;
          }
          const message = error instanceof Error ? error.message : String(error);
          const retries = this.options.retrySeconds ?? DISPATCH_RETRY_SECONDS;
          const attempt = (event.attempts ?? 0) + 1;
          const dead = attempt > retries.length;
          await recordDispatchFailure(tx, event.id, message, dead ? null : retries[attempt - 1]!);
          failures.push({ id: event.id, error: message, attempt, dead });
        }
      }
      return events.length;
    });
    for (const f of failures) {
      if (f.dead) this.logger.error({ event: f.id, attempts: f.attempt, error: f.error }, 'webhook event set aside as dead after its last try');
      else this.logger.warn({ event: f.id, attempt: f.attempt, error: f.error }, 'webhook event could not be dispatched; it will be tried again');
    }
    // Only events that met a passing conflict are left as they were: do not spin on them now.
    return { events: transient === handled ? 0 : handled, queued };
  }

  /** Adds the event's deliveries to `deliveries`; returns how many it put into buffers instead. */
  private async render(tx: Tx, event: OutboxEvent, webhooks: TargetWebhook[], prefetched: Prefetched | undefined, deliveries: NewDelivery[]): Promise<number> {
    if (webhooks.length === 0) return 0;
    if (event.event === 'meta.raw') {
      const body = await metaEventBody(tx, Number(event.subject.meta_event_id));
      if (body === null) return 0;
      const key = createHash('sha256').update(body).digest('hex');
      for (const webhook of webhooks) {
        deliveries.push({ projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: null, conversationPhoneNumber: null, idempotencyKey: key, body });
      }
      return 0;
    }
    const rendered = await renderEvent(tx, event, prefetched);
    if (!rendered) return 0;
    const body = JSON.stringify(rendered.body);
    let buffered = 0;
    for (const webhook of webhooks) {
      const common = { projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: rendered.conversationId, conversationPhoneNumber: rendered.conversationPhoneNumber };
      const toBuffer = webhook.buffer_enabled && event.event === 'whatsapp.message.received' && webhook.buffer_events.includes(event.event) && event.subject.sample !== true;
      if (toBuffer) {
        await addToBatch(tx, { ...common, item: rendered.body });
        buffered += 1;
      } else {
        deliveries.push({ ...common, idempotencyKey: event.id, body });
      }
    }
    return buffered;
  }
}
