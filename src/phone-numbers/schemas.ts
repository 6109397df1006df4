// Wire schemas of the phone numbers API. The access token is accepted, never returned.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { noContent, OFFSET_META_EXAMPLE, success } from '../http/openapi.ts';
import { MetaSchema, offsetQueryProperties } from '../http/pagination.ts';

export const PhoneNumberSchema = Type.Object(
  {
    id: Type.String({ description: "Meta's phone number id" }),
    internal_id: Type.String({ format: 'uuid', description: "Parley's id for this connection" }),
    phone_number_id: Type.String({ description: "Meta's phone number id (same as id)" }),
    name: Type.String({ description: 'Your label for the number' }),
    kind: Type.String({ enum: ['production', 'sandbox'], description: 'production: a real number; sandbox: a test number' }),
    business_account_id: nullable(Type.String(), 'WhatsApp Business Account id'),
    customer_id: nullable(Type.String({ format: 'uuid' }), 'The customer that owns the number'),
    display_phone_number: nullable(Type.String(), 'The number as Meta formats it'),
    display_phone_number_normalized: nullable(Type.String(), 'The number as digits'),
    verified_name: nullable(Type.String()),
    inbound_processing_enabled: Type.Boolean({ description: 'Whether inbound webhooks for this number are processed' }),
    calls_enabled: Type.Boolean(),
    webhook_verified_at: nullable(Type.String({ format: 'date-time' })),
    status: nullable(Type.String(), 'Connection status'),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A WhatsApp business phone number connected to Parley' },
);
export type PhoneNumber = Static<typeof PhoneNumberSchema>;

/** The number the document's examples show. */
export const PHONE_NUMBER_EXAMPLE: PhoneNumber = {
  id: '106540352242922',
  internal_id: '5d2c8e4a-7b1f-4a3e-8c6d-9e0f1a2b3c4d',
  phone_number_id: '106540352242922',
  name: 'Lisbon support',
  kind: 'production',
  business_account_id: '102290129340398',
  customer_id: 'c5a1e7d2-8b3f-4e6a-9d0c-1f2e3d4c5b6a',
  display_phone_number: '+351 21 000 0000',
  display_phone_number_normalized: '351210000000',
  verified_name: 'Lisbon Bakery',
  inbound_processing_enabled: true,
  calls_enabled: false,
  webhook_verified_at: null,
  status: 'CONNECTED',
  created_at: '2026-02-11T10:31:00.000000Z',
  updated_at: '2026-02-11T10:31:00.000000Z',
};

const token = Type.String({ minLength: 1, maxLength: 4096, description: 'Permanent access token from Meta; stored encrypted, never returned' });
const metaId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9]+$' });

/** Optional settings both connecting and updating a number accept. */
const settable = {
  kind: Type.Optional(Type.String({ enum: ['production', 'sandbox'] })),
  webhook_verify_token: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  display_phone_number: Type.Optional(nullable(Type.String({ maxLength: 64 }))),
  verified_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  inbound_processing_enabled: Type.Optional(Type.Boolean()),
  calls_enabled: Type.Optional(Type.Boolean()),
};

export const CreatePhoneNumberBody = Type.Object(
  {
    whatsapp_phone_number: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 256 }),
        phone_number_id: metaId,
        business_account_id: metaId,
        access_token: token,
        ...settable,
      },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    examples: [{ whatsapp_phone_number: { name: 'Lisbon support', phone_number_id: '106540352242922', business_account_id: '102290129340398', access_token: 'EAAG…' } }],
  },
);
export type CreatePhoneNumberBody = Static<typeof CreatePhoneNumberBody>;

export const UpdatePhoneNumberBody = Type.Object(
  {
    whatsapp_phone_number: Type.Object(
      {
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
        access_token: Type.Optional(token),
        ...settable,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ whatsapp_phone_number: { name: 'Lisbon support (weekdays)', inbound_processing_enabled: true } }] },
);
export type UpdatePhoneNumberBody = Static<typeof UpdatePhoneNumberBody>;

export const ListPhoneNumbersQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ description: "Only the number with this Meta id" })),
  business_account_id: Type.Optional(Type.String({ description: 'Only numbers of this WhatsApp Business Account' })),
  customer_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only numbers of this customer' })),
  name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Case-insensitive substring of name' })),
  created_after: Type.Optional(Type.String({ format: 'date-time', description: 'Only numbers connected after this instant' })),
  created_before: Type.Optional(Type.String({ format: 'date-time', description: 'Only numbers connected before this instant' })),
  ...offsetQueryProperties,
});
export type ListPhoneNumbersQuery = Static<typeof ListPhoneNumbersQuery>;

const NumberParams = Type.Object({ phone_number_id: Type.String({ description: "Meta's phone number id" }) });
const CustomerParams = Type.Object({ customer_id: Type.String({ description: 'Customer id (UUID)' }) });
const Response = Type.Object({ data: PhoneNumberSchema });
const notFound = errorResponse('Phone number not found');
const bodyErrors = {
  400: errorResponse('Malformed JSON'),
  413: errorResponse('Body larger than 1 MiB'),
  415: errorResponse('Unsupported Content-Type'),
  422: errorResponse('A field is invalid; the message names it'),
};

const numberExample = { example: { data: PHONE_NUMBER_EXAMPLE } };

export const createPhoneNumberSchema = {
  operationId: 'createCustomerWhatsappPhoneNumber',
  summary: 'Connect a phone number',
  description:
    "Connects a WhatsApp business number to a customer with Meta's ids and a permanent access token. " +
    'The token is encrypted at rest and never shown again; inbound webhooks for the number are processed from now on.',
  tags: ['Phone Numbers'],
  params: CustomerParams,
  body: CreatePhoneNumberBody,
  response: { 201: success(Response, 'The number was connected', numberExample), 404: errorResponse('Customer not found'), 409: errorResponse('This Meta phone number is already connected'), ...bodyErrors, ...authErrors },
};
export const listPhoneNumbersSchema = {
  operationId: 'listWhatsappPhoneNumbers',
  summary: 'List phone numbers',
  description: 'The numbers connected in this project, newest first, with page and per_page pagination. Filters combine.',
  tags: ['Phone Numbers'],
  querystring: ListPhoneNumbersQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(PhoneNumberSchema), meta: MetaSchema }), 'A page of phone numbers with its position in `meta`', {
      example: { data: [PHONE_NUMBER_EXAMPLE], meta: OFFSET_META_EXAMPLE },
    }),
    400: errorResponse('Bad pagination parameters'), 422: errorResponse('A filter value is invalid'), ...authErrors },
};
export const getPhoneNumberSchema = {
  operationId: 'getWhatsappPhoneNumber',
  summary: 'Get a phone number',
  description: "One connected number, by Meta's phone number id.",
  tags: ['Phone Numbers'],
  params: NumberParams,
  response: { 200: success(Response, 'The phone number', numberExample), 404: notFound, ...authErrors },
};
export const updatePhoneNumberSchema = {
  summary: 'Update a phone number',
  operationId: 'updateWhatsappPhoneNumber',
  description: 'Rename, rotate the access token, or switch inbound processing and calls on or off. Absent fields stay as they are.',
  tags: ['Phone Numbers'],
  params: NumberParams,
  body: UpdatePhoneNumberBody,
  response: { 200: success(Response, 'The phone number as it is now', { example: { data: { ...PHONE_NUMBER_EXAMPLE, name: 'Lisbon support (weekdays)' } } }), 404: notFound, ...bodyErrors, ...authErrors },
};
export const deletePhoneNumberSchema = {
  summary: 'Disconnect a phone number',
  operationId: 'deleteWhatsappPhoneNumber',
  description: 'Its conversations and messages stay readable.',
  tags: ['Phone Numbers'],
  params: NumberParams,
  response: { 204: noContent('The number was disconnected'), 404: notFound, ...authErrors },
};

const HealthCheckSchema = Type.Object(
  {
    passed: nullable(Type.Boolean(), 'Whether the check passed; null when Meta gave no verdict (an unknown status)'),
    overall_status: Type.Optional(Type.String({ description: 'messaging_health only: AVAILABLE, LIMITED, BLOCKED or UNKNOWN' })),
    details: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'What the check read, as Meta (or Parley) reported it' })),
    error: Type.Optional(Type.String({ description: 'Why the check could not pass: the error Meta answered with' })),
  },
  { additionalProperties: false },
);

export const PhoneNumberHealthSchema = Type.Object(
  {
    status: Type.String({ enum: ['healthy', 'degraded', 'unhealthy', 'error'], description: 'unhealthy: Meta refused access, the number is disconnected or blocked; degraded: limited messaging or webhook set-up incomplete; error: the check did not finish' }),
    timestamp: Type.String({ format: 'date-time', description: 'When the check ran (answers are cached up to 3 minutes)' }),
    retry_after: Type.Optional(Type.String({ format: 'date-time', description: "Only while Meta refuses the number's token: until then the same answer is repeated without asking Meta again" })),
    error: Type.Optional(nullable(Type.String(), 'Why the check did not finish (status error)')),
    checks: Type.Optional(nullable(Type.Record(Type.String(), HealthCheckSchema), 'phone_number_access, phone_number_connection, messaging_health, webhook_subscription, webhook_verified')),
  },
  { description: "A number's health as Meta reports it" },
);
export type PhoneNumberHealth = Static<typeof PhoneNumberHealthSchema>;

const HEALTH_LIMIT_HEADERS = {
  'x-health-ratelimit-second-limit': { type: 'integer', description: 'Health checks allowed per second for this project' },
  'x-health-ratelimit-second-remaining': { type: 'integer', description: 'Health checks left in the current second' },
  'x-health-ratelimit-minute-limit': { type: 'integer', description: 'Health checks allowed per minute for this project' },
  'x-health-ratelimit-minute-remaining': { type: 'integer', description: 'Health checks left in the current minute' },
};

const HEALTH_EXAMPLE: PhoneNumberHealth = {
  status: 'degraded',
  timestamp: '2026-03-04T09:12:44.503Z',
  checks: {
    phone_number_access: { passed: true, details: { verified_name: 'Lisbon Bakery', display_phone_number: '+351 21 000 0000', quality_rating: 'GREEN', status: 'CONNECTED', throughput_tier: 'TIER_1K', id: '106540352242922' } },
    phone_number_connection: { passed: true, details: { status: 'CONNECTED' } },
    messaging_health: { passed: true, overall_status: 'AVAILABLE', details: { can_send_message: 'AVAILABLE', entities: [{ entity_type: 'PHONE_NUMBER', id: '106540352242922', can_send_message: 'AVAILABLE' }] } },
    webhook_subscription: { passed: true, details: { app_id: '778899001122334', subscribed: true } },
    webhook_verified: { passed: false, details: { verified_at: null, message: 'Webhook not yet verified by Meta' } },
  },
};

export const getPhoneNumberHealthSchema = {
  operationId: 'getWhatsappPhoneNumberHealth',
  summary: 'Check phone number health',
  description:
    "Asks Meta about the number (access with its token, connection, quality, whether it can send) and its WhatsApp Business Account's " +
    'app subscription, and reports each as a check with an overall status. Answers are cached 3 minutes per number, and longer ' +
    "(with retry_after) while Meta refuses the number's token. At most 5 checks a second and 60 a minute per project.",
  tags: ['Phone Numbers'],
  params: NumberParams,
  response: {
    200: success(PhoneNumberHealthSchema, 'The checks and the overall status', { example: HEALTH_EXAMPLE, headers: HEALTH_LIMIT_HEADERS }),
    404: notFound,
    ...authErrors,
    429: errorResponse('Over the key\'s rate limit, or more than 5 health checks a second or 60 a minute in this project; retry after Retry-After seconds'),
    502: errorResponse("Meta's Graph API could not be reached, was too slow, or failed on the number: the check could not run"),
  },
};
