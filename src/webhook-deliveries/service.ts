// The rules of the delivery log: which filters mean what, the look-back period, the wire shape.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import type { Database } from '../db/schema.ts';
import { cursorPage, type CursorRequest } from '../http/pagination.ts';
import * as repo from './repo.ts';
import { type DeliveryStatus, type ListWebhookDeliveriesQuery, type Period, PERIOD_HOURS, type WebhookDelivery } from './schemas.ts';

const HOUR_MS = 60 * 60 * 1000;
const optionalInstant = (value: string | null) => (value === null ? null : isoMicros(value));

export function toWebhookDelivery(row: repo.DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    event: row.event,
    status: row.status,
    attempt_count: row.attempt_count,
    response_status: row.response_status,
    delivered_at: optionalInstant(row.delivered_at),
    failed_at: optionalInstant(row.failed_at),
    last_attempt_at: optionalInstant(row.last_attempt_at),
    webhook_id: row.webhook_id,
    webhook_url: row.webhook_url,
    whatsapp_config_id: row.whatsapp_config_id,
    phone_number_id: row.phone_number_id,
    conversation_phone_number: row.conversation_phone_number,
    created_at: isoMicros(row.created_at),
  };
}

export class WebhookDeliveriesService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * `errors_only=true` keeps failed deliveries only, as Kapso documents it ("Only return failed
   * deliveries"); a pending delivery that is still being retried after an error is not one yet.
   */
  async list(projectId: string, query: ListWebhookDeliveriesQuery, cursor: CursorRequest) {
    const period = (query.period ?? '24h') as Period;
    const createdSince = new Date(this.clock().getTime() - PERIOD_HOURS[period] * HOUR_MS);
    const rows = await repo.listDeliveries(
      this.db,
      projectId,
      {
        status: query.status as DeliveryStatus | undefined,
        event: query.event,
        webhookId: query.webhook_id?.toLowerCase(),
        failedOnly: query.errors_only === true,
        createdSince,
      },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map(toWebhookDelivery), paging: page.paging };
  }
}
