// Turns outbox rows into deliveries: for each event, the webhooks that want it, with the body
// rendered once (so every retry sends the same bytes). Runs in batches, each in one
// transaction with its events locked, so several nodes never dispatch an event twice.
import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from '../jobs/polling-loop.ts';
import { renderEvent } from './payloads.ts';
import { addToBatch, insertDelivery, lockUndispatchedEvents, markDispatched, metaEventBody, targetsOf, WEBHOOK_DELIVERIES_CHANNEL } from './outbox-repo.ts';

export class WebhookDispatcher extends BatchWorker {
  constructor(
    private readonly db: Kysely<Database>,
    logger: Logger,
    options: { pollMs: number },
  ) {
    super(logger, options.pollMs, 'webhook dispatcher');
  }

  protected async batch(limit = 100): Promise<number> {
    let queued = 0;
    const handled = await this.db.transaction().execute(async (tx) => {
      const events = await lockUndispatchedEvents(tx, limit);
      for (const event of events) {
        const webhooks = await targetsOf(tx, event);
        if (webhooks.length === 0) continue;
        if (event.event === 'meta.raw') {
          const body = await metaEventBody(tx, Number(event.subject.meta_event_id));
          if (body === null) continue;
          const key = createHash('sha256').update(body).digest('hex');
          for (const webhook of webhooks) {
            await insertDelivery(tx, { projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: null, conversationPhoneNumber: null, idempotencyKey: key, body });
            queued += 1;
          }
          continue;
        }
        const rendered = await renderEvent(tx, event);
        if (!rendered) continue;
        const body = JSON.stringify(rendered.body);
        for (const webhook of webhooks) {
          const common = { projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: rendered.conversationId, conversationPhoneNumber: rendered.conversationPhoneNumber };
          const buffered = webhook.buffer_enabled && event.event === 'whatsapp.message.received' && webhook.buffer_events.includes(event.event) && event.subject.sample !== true;
          if (buffered) await addToBatch(tx, { ...common, item: rendered.body });
          else await insertDelivery(tx, { ...common, idempotencyKey: event.id, body });
          queued += 1;
        }
      }
      await markDispatched(tx, events.map((e) => e.id));
      if (queued > 0) await sql`SELECT pg_notify(${WEBHOOK_DELIVERIES_CHANNEL}, '')`.execute(tx);
      return events.length;
    });
    return handled;
  }
}
