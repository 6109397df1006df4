// Wire schemas of the webhook configuration API. The schemas check shapes and ranges; the rules
// that depend on the webhook's scope and kind (which events, buffering, secrets) are in service.ts.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { noContent, OFFSET_META_EXAMPLE, success } from '../http/openapi.ts';
import { MetaSchema, offsetQueryProperties } from '../http/pagination.ts';

/** Events a project webhook (no phone number) may subscribe to. */
export const PROJECT_EVENTS = [
  'whatsapp.phone_number.created',
  'whatsapp.phone_number.deleted',
  'whatsapp.contact.created',
  'whatsapp.contact.updated',
  'whatsapp.contact.erased',
] as const;

/** Events a phone-number webhook may subscribe to. */
export const NUMBER_EVENTS = [
  'whatsapp.message.received',
  'whatsapp.message.sent',
  'whatsapp.message.delivered',
  'whatsapp.message.read',
  'whatsapp.message.failed',
  'whatsapp.conversation.created',
  'whatsapp.conversation.ended',
  'whatsapp.conversation.inactive',
] as const;

/** The only event that may be batched. */
export const BUFFERABLE_EVENTS = ['whatsapp.message.received'] as const;

/** The event a test of a `meta` webhook queues: such webhooks subscribe to no events. */
export const META_TEST_EVENT = 'meta.test';

const HeadersSchema = Type.Record(Type.String(), Type.String());

export const WebhookSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    url: Type.String({ description: 'Where deliveries are POSTed' }),
    kind: Type.String({ enum: ['kapso', 'meta'], description: 'kapso: Parley event payloads; meta: the raw payload Meta sent, forwarded' }),
    events: Type.Array(Type.String(), { description: 'Subscribed events; always empty for meta webhooks' }),
    active: Type.Boolean({ description: 'false pauses deliveries' }),
    secret_key: nullable(Type.String(), 'Key of the X-Webhook-Signature HMAC; shown only on this webhook’s own responses, null in lists'),
    headers: Type.Unsafe<Record<string, string>>({ ...HeadersSchema, description: 'Extra headers sent with every delivery' }),
    phone_number_id: nullable(Type.String(), 'Meta phone number id this webhook is scoped to; null for project webhooks'),
    buffer_enabled: Type.Boolean({ description: 'Whether received messages are batched' }),
    buffer_window_seconds: Type.Integer({ description: 'How long a batch stays open' }),
    max_buffer_size: Type.Integer({ description: 'Most messages in one batch' }),
    buffer_events: Type.Array(Type.String(), { description: 'Events that are batched' }),
    inactivity_minutes: Type.Integer({ description: 'Quiet minutes before whatsapp.conversation.inactive' }),
    payload_version: Type.String({ description: 'Payload format version' }),
    project_id: Type.String({ format: 'uuid' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: 'An endpoint Parley delivers events to' },
);
export type Webhook = Static<typeof WebhookSchema>;

/** The webhook the document's examples show: a number webhook for received messages. */
const WEBHOOK_EXAMPLE: Webhook = {
  id: '3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d',
  url: 'https://example.com/hooks/whatsapp',
  kind: 'kapso',
  events: ['whatsapp.message.received', 'whatsapp.conversation.created'],
  active: true,
  secret_key: 'whsec_4f9c2a7e1b',
  headers: { 'X-Source': 'parley' },
  phone_number_id: '106540352242922',
  buffer_enabled: false,
  buffer_window_seconds: 5,
  max_buffer_size: 50,
  buffer_events: [],
  inactivity_minutes: 60,
  payload_version: 'v2',
  project_id: '1e2d3c4b-5a69-4788-97a6-b5c4d3e2f1a0',
  created_at: '2026-03-01T08:00:00.000000Z',
  updated_at: '2026-03-01T08:00:00.000000Z',
};
const CREATE_EXAMPLE = {
  whatsapp_webhook: { url: 'https://example.com/hooks/whatsapp', secret_key: 'whsec_4f9c2a7e1b', events: ['whatsapp.message.received', 'whatsapp.conversation.created'], headers: { 'X-Source': 'parley' } },
};

const url = Type.String({ minLength: 1, maxLength: 2048, description: 'Absolute http(s) URL reaching a public address' });
const kind = Type.String({ enum: ['kapso', 'meta'] });
const secret = Type.String({ minLength: 1, maxLength: 512, description: 'Signs each delivery (HMAC-SHA256); never generated for you' });
const eventList = (description: string) => Type.Array(Type.String({ maxLength: 128 }), { maxItems: 50, description });

/** Fields every create and update body may carry. */
const settings = {
  active: Type.Optional(Type.Boolean({ description: 'false pauses deliveries (default true)' })),
  buffer_enabled: Type.Optional(Type.Boolean({ description: 'Batch received messages (not for meta webhooks)' })),
  buffer_window_seconds: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 60 }), 'Seconds a batch stays open, 1–60 (default 5)')),
  max_buffer_size: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 100 }), 'Most messages per batch, 1–100 (default 50)')),
  inactivity_minutes: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 1440 }), 'Quiet minutes before an inactivity event, 1–1440 (default 60)')),
  events: Type.Optional(eventList('Events to deliver; which ones are allowed depends on the scope (project or phone number)')),
  buffer_events: Type.Optional(eventList('Events to batch; only whatsapp.message.received')),
  headers: Type.Optional(nullable(HeadersSchema, 'Extra headers for every delivery (at most 20)')),
  payload_version: Type.Optional(nullable(Type.String(), 'Only "v2"')),
};

export const CreateNumberWebhookBody = Type.Object(
  { whatsapp_webhook: Type.Object({ url, kind: Type.Optional(kind), secret_key: secret, ...settings }, { additionalProperties: false }) },
  { additionalProperties: false, examples: [CREATE_EXAMPLE] },
);
export const CreateProjectWebhookBody = Type.Object(
  {
    whatsapp_webhook: Type.Object(
      {
        url,
        phone_number_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Scope the webhook to this connected number' })),
        kind: Type.Optional(kind),
        secret_key: Type.Optional(nullable(secret)),
        ...settings,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ whatsapp_webhook: { ...CREATE_EXAMPLE.whatsapp_webhook, phone_number_id: '106540352242922' } }] },
);
export const UpdateWebhookBody = Type.Object(
  {
    whatsapp_webhook: Type.Object(
      { url: Type.Optional(url), kind: Type.Optional(kind), secret_key: Type.Optional(nullable(secret)), ...settings },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ whatsapp_webhook: { active: false } }] },
);

/** What a create or update asks for, whichever route it came through. */
export interface WebhookInput {
  url?: string;
  phone_number_id?: string;
  kind?: string;
  secret_key?: string | null;
  active?: boolean;
  buffer_enabled?: boolean;
  buffer_window_seconds?: number | null;
  max_buffer_size?: number | null;
  inactivity_minutes?: number | null;
  events?: string[];
  buffer_events?: string[];
  headers?: Record<string, string> | null;
  payload_version?: string | null;
}

export const TestWebhookBody = Type.Object(
  { event_type: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'An event the webhook subscribes to; default its first' })) },
  { additionalProperties: false, examples: [{ event_type: 'whatsapp.message.received' }] },
);

const listFilters = {
  kind: Type.Optional(Type.String({ enum: ['kapso', 'meta'], description: 'Only webhooks of this kind' })),
  ...offsetQueryProperties,
};
// One set of filters for both lists: the service applies every one of them, so each must be
// validated on both (an unchecked `active=abc` reached PostgreSQL as a 500).
export const ListNumberWebhooksQuery = Type.Object({
  ...listFilters,
  url_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'Case-insensitive substring of the URL' })),
  active: Type.Optional(Type.Boolean({ description: 'true: only active webhooks; false: only paused ones' })),
  created_after: Type.Optional(Type.String({ format: 'date-time', description: 'Only webhooks created after this instant' })),
  created_before: Type.Optional(Type.String({ format: 'date-time', description: 'Only webhooks created before this instant' })),
});
export const ListProjectWebhooksQuery = ListNumberWebhooksQuery;
export type ListWebhooksQuery = Static<typeof ListNumberWebhooksQuery>;

const WebhookParams = Type.Object({ webhook_id: Type.String({ description: 'Webhook id (UUID)' }) });
const NumberParams = Type.Object({ phone_number_id: Type.String({ description: "Meta's phone number id" }) });
const NumberWebhookParams = Type.Object({ phone_number_id: Type.String({ description: "Meta's phone number id" }), webhook_id: Type.String({ description: 'Webhook id (UUID)' }) });

const Response = Type.Object({ data: WebhookSchema });
const ListResponse = success(Type.Object({ data: Type.Array(WebhookSchema), meta: MetaSchema }), 'A page of webhooks (secret_key is null) with its position in `meta`', {
  example: { data: [{ ...WEBHOOK_EXAMPLE, secret_key: null }], meta: OFFSET_META_EXAMPLE },
});
const created = success(Response, 'The webhook was created; this answer shows its secret_key', { example: { data: WEBHOOK_EXAMPLE } });
const found = success(Response, 'The webhook', { example: { data: WEBHOOK_EXAMPLE } });
const updated = success(Response, 'The webhook as it is now', { example: { data: { ...WEBHOOK_EXAMPLE, active: false } } });
const deleted = noContent('The webhook was deleted; its delivery log stays');
const webhookNotFound = errorResponse('Webhook not found');
const numberOrWebhookNotFound = errorResponse('Phone number or webhook not found');
const bodyErrors = {
  400: errorResponse('Malformed JSON'),
  413: errorResponse('Body larger than 1 MiB'),
  415: errorResponse('Unsupported Content-Type'),
  422: errorResponse('A field is invalid; the message names it'),
};
const listErrors = { 400: errorResponse('Bad pagination parameters'), 422: errorResponse('A filter value is invalid') };
const tags = ['Webhooks'];

export const listProjectWebhooksSchema = {
  operationId: 'listWhatsappProjectWebhooks',
  summary: 'List the project’s webhooks',
  description: 'Project-scoped and phone-number-scoped webhooks alike, newest first. Secrets are not shown.',
  tags,
  querystring: ListProjectWebhooksQuery,
  response: { 200: ListResponse, ...listErrors, ...authErrors },
};
export const createProjectWebhookSchema = {
  operationId: 'createWhatsappProjectWebhook',
  summary: 'Create a webhook',
  description:
    'Without phone_number_id the webhook receives project events (phone numbers, contacts); with it, message and conversation events of that number. ' +
    'A meta webhook forwards Meta’s raw payloads and needs a phone number; there is at most one per number.',
  tags,
  body: CreateProjectWebhookBody,
  response: { 201: created, 404: errorResponse('Phone number not found'), ...bodyErrors, ...authErrors },
};
export const getProjectWebhookSchema = {
  operationId: 'getWhatsappProjectWebhook',
  summary: 'Get a webhook',
  description: 'Any webhook of the project, project-scoped or phone-number-scoped, with its secret_key.',
  tags,
  params: WebhookParams,
  response: { 200: found, 404: webhookNotFound, ...authErrors },
};
export const updateProjectWebhookSchema = {
  operationId: 'updateWhatsappProjectWebhook',
  summary: 'Update a webhook',
  description: 'Absent fields stay as they are. The kind cannot change.',
  tags,
  params: WebhookParams,
  body: UpdateWebhookBody,
  response: { 200: updated, 404: webhookNotFound, ...bodyErrors, ...authErrors },
};
export const deleteProjectWebhookSchema = {
  operationId: 'deleteWhatsappProjectWebhook',
  summary: 'Delete a webhook',
  description: 'Stops deliveries to it at once, pending ones included.',
  tags,
  params: WebhookParams,
  response: { 204: deleted, 404: webhookNotFound, ...authErrors },
};
export const testWebhookSchema = {
  operationId: 'testWhatsappProjectWebhook',
  summary: 'Send a test event',
  description: 'Queues a sample event for this webhook only. event_type must be one the webhook subscribes to.',
  tags,
  params: WebhookParams,
  body: TestWebhookBody,
  response: {
    200: success(Type.Object({ data: Type.Object({ success: Type.Boolean({ description: 'true: the sample event was queued' }) }) }), 'The sample event was queued; see the deliveries log for its outcome', {
      example: { data: { success: true } },
    }), 404: webhookNotFound, ...bodyErrors, ...authErrors },
};

export const listNumberWebhooksSchema = {
  operationId: 'listWhatsappPhoneNumberWebhooks',
  summary: 'List a phone number’s webhooks',
  description: 'Newest first. Secrets are not shown.',
  tags,
  params: NumberParams,
  querystring: ListNumberWebhooksQuery,
  response: { 200: ListResponse, 404: errorResponse('Phone number not found'), ...listErrors, ...authErrors },
};
export const createNumberWebhookSchema = {
  operationId: 'createWhatsappPhoneNumberWebhook',
  summary: 'Create a phone number webhook',
  description: 'Receives message and conversation events of this number (kapso), or Meta’s raw payloads (meta, at most one per number).',
  tags,
  params: NumberParams,
  body: CreateNumberWebhookBody,
  response: { 201: created, 404: errorResponse('Phone number not found'), ...bodyErrors, ...authErrors },
};
export const getNumberWebhookSchema = {
  operationId: 'getWhatsappPhoneNumberWebhook',
  summary: 'Get a phone number webhook',
  description: 'A webhook scoped to this number, with its secret_key.',
  tags,
  params: NumberWebhookParams,
  response: { 200: found, 404: numberOrWebhookNotFound, ...authErrors },
};
export const updateNumberWebhookSchema = {
  operationId: 'updateWhatsappPhoneNumberWebhook',
  summary: 'Update a phone number webhook',
  description: 'Absent fields stay as they are. The kind cannot change.',
  tags,
  params: NumberWebhookParams,
  body: UpdateWebhookBody,
  response: { 200: updated, 404: numberOrWebhookNotFound, ...bodyErrors, ...authErrors },
};
export const deleteNumberWebhookSchema = {
  operationId: 'deleteWhatsappPhoneNumberWebhook',
  summary: 'Delete a phone number webhook',
  description: 'Stops deliveries to it at once, pending ones included.',
  tags,
  params: NumberWebhookParams,
  response: { 204: deleted, 404: numberOrWebhookNotFound, ...authErrors },
};
