// Turns outbox rows into deliveries: for each event, the webhooks that want it, with the body
// rendered once (so every retry sends the same bytes). Runs in batches, each in one
// transaction with its events locked, so several nodes never dispatch an event twice.
import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from '../jobs/polling-loop.ts';
import { findContactsByIds } from '../contacts/repo.ts';
import { type OutboxEvent, type Prefetched, renderEvent } from './payloads.ts';
import { addToBatch, insertDeliveries, lockUndispatchedEvents, markDispatched, metaEventBody, type NewDelivery, type TargetWebhook, targetsOf, WEBHOOK_DELIVERIES_CHANNEL } from './outbox-repo.ts';

export class WebhookDispatcher extends BatchWorker {
  constructor(
    private readonly db: Kysely<Database>,
    logger: Logger,
    options: { pollMs: number },
  ) {
    super(logger, options.pollMs, 'webhook dispatcher');
  }

  protected async batch(limit = 200): Promise<number> {
    let queued = 0;
    const handled = await this.db.transaction().execute(async (tx) => {
      const events = await lockUndispatchedEvents(tx, limit);
      // Within a batch, events mostly share their targets and are mostly about contacts: look
      // each set of targets up once, load the contacts in one query, insert in one statement.
      const targets = new Map<string, Promise<TargetWebhook[]>>();
      const targetsFor = (event: OutboxEvent) => {
        const key = `${event.project_id}|${event.phone_number_id}|${event.event}|${event.webhook_id}`;
        if (!targets.has(key)) targets.set(key, targetsOf(tx, event));
        return targets.get(key)!;
      };
      const contactIds = events.filter((e) => e.event === 'whatsapp.contact.created' || e.event === 'whatsapp.contact.updated').map((e) => String(e.subject.contact_id));
      const prefetched: Prefetched = new Map((await findContactsByIds(tx, [...new Set(contactIds)])).map((row) => [row.id, row]));
      const deliveries: NewDelivery[] = [];
      for (const event of events) {
        const webhooks = await targetsFor(event);
        if (webhooks.length === 0) continue;
        if (event.event === 'meta.raw') {
          const body = await metaEventBody(tx, Number(event.subject.meta_event_id));
          if (body === null) continue;
          const key = createHash('sha256').update(body).digest('hex');
          for (const webhook of webhooks) {
            deliveries.push({ projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: null, conversationPhoneNumber: null, idempotencyKey: key, body });
          }
          continue;
        }
        const rendered = await renderEvent(tx, event, prefetched);
        if (!rendered) continue;
        const body = JSON.stringify(rendered.body);
        for (const webhook of webhooks) {
          const common = { projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: rendered.conversationId, conversationPhoneNumber: rendered.conversationPhoneNumber };
          const buffered = webhook.buffer_enabled && event.event === 'whatsapp.message.received' && webhook.buffer_events.includes(event.event) && event.subject.sample !== true;
          if (buffered) {
            await addToBatch(tx, { ...common, item: rendered.body });
            queued += 1;
          } else {
            deliveries.push({ ...common, idempotencyKey: event.id, body });
          }
        }
      }
      await insertDeliveries(tx, deliveries);
      queued += deliveries.length;
      await markDispatched(tx, events.map((e) => e.id));
      if (queued > 0) await sql`SELECT pg_notify(${WEBHOOK_DELIVERIES_CHANNEL}, '')`.execute(tx);
      return events.length;
    });
    return handled;
  }
}
