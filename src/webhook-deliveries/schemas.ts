// Wire schemas of the webhook delivery log. The response schema is the allow-list: a delivery's
// body, headers and the webhook's secret never reach the wire.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { PAGING_EXAMPLE, success } from '../http/openapi.ts';
import { cursorQueryProperties, PagingSchema } from '../http/pagination.ts';

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** How far back the list looks, by the value of `period`. */
export const PERIOD_HOURS = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
export type Period = keyof typeof PERIOD_HOURS;

const instant = (description: string) => nullable(Type.String({ format: 'date-time' }), description);

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    event: Type.String({ description: 'The event this delivery carries, e.g. whatsapp.message.received' }),
    status: Type.String({ enum: [...DELIVERY_STATUSES], description: 'pending until a 2xx arrives (delivered) or the retries run out (failed)' }),
    attempt_count: Type.Integer({ minimum: 0, description: 'POSTs made so far' }),
    response_status: nullable(Type.Integer(), 'HTTP status the endpoint answered on the newest attempt; null when it gave none'),
    delivered_at: instant('When a 2xx answer arrived'),
    failed_at: instant('When the delivery was given up'),
    last_attempt_at: instant('When the newest attempt was made'),
    webhook_id: nullable(Type.String({ format: 'uuid' }), 'The webhook; null once it has been deleted'),
    webhook_url: nullable(Type.String(), 'The URL the delivery was sent to'),
    whatsapp_config_id: nullable(Type.String({ format: 'uuid' }), 'Internal id of the business number the event concerns, when it is or was connected in this project'),
    phone_number_id: nullable(Type.String(), "Meta's id of the business number the event concerns"),
    conversation_phone_number: nullable(Type.String(), "The contact's number in the conversation the event concerns"),
    created_at: Type.String({ format: 'date-time' }),
  },
  { description: 'One event sent (or being sent) to one webhook' },
);
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>;

export const ListWebhookDeliveriesQuery = Type.Object({
  status: Type.Optional(Type.String({ enum: [...DELIVERY_STATUSES], description: 'Only deliveries in this state' })),
  event: Type.Optional(Type.String({ maxLength: 200, description: 'Only deliveries of this event type' })),
  webhook_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only deliveries to this webhook' })),
  errors_only: Type.Optional(Type.Boolean({ default: false, description: 'true: only failed deliveries' })),
  period: Type.Optional(Type.String({ enum: Object.keys(PERIOD_HOURS), default: '24h', description: 'Only deliveries created within the last 24h, 7d or 30d' })),
  ...cursorQueryProperties,
});
export type ListWebhookDeliveriesQuery = Static<typeof ListWebhookDeliveriesQuery>;

const DELIVERY_EXAMPLE: WebhookDelivery = {
  id: 'e7d6c5b4-a392-4817-9f6e-5d4c3b2a1908',
  event: 'whatsapp.message.received',
  status: 'delivered',
  attempt_count: 1,
  response_status: 200,
  delivered_at: '2026-03-04T09:12:41.020000Z',
  failed_at: null,
  last_attempt_at: '2026-03-04T09:12:41.003000Z',
  webhook_id: '3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d',
  webhook_url: 'https://example.com/hooks/whatsapp',
  whatsapp_config_id: '5d2c8e4a-7b1f-4a3e-8c6d-9e0f1a2b3c4d',
  phone_number_id: '106540352242922',
  conversation_phone_number: '14155550123',
  created_at: '2026-03-04T09:12:40.950000Z',
};

export const listWebhookDeliveriesSchema = {
  operationId: 'listWebhookDeliveries',
  summary: 'List webhook deliveries',
  description: 'Deliveries of this project, newest first, with cursor pagination. Deliveries are kept for 30 days.',
  tags: ['Webhook Deliveries'],
  querystring: ListWebhookDeliveriesQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(WebhookDeliverySchema), paging: PagingSchema }), 'A page of deliveries', { example: { data: [DELIVERY_EXAMPLE], paging: PAGING_EXAMPLE } }),
    400: errorResponse('Bad pagination parameters or cursor'),
    422: errorResponse('A filter value is invalid; the message names it'),
    ...authErrors,
  },
};
