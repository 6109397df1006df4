// Wire schemas of the phone numbers API. The access token is accepted, never returned.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { MetaSchema, offsetQueryProperties } from '../http/pagination.ts';

export const PhoneNumberSchema = Type.Object(
  {
    id: Type.String({ description: "Meta's phone number id" }),
    internal_id: Type.String({ format: 'uuid', description: "Parley's id for this connection" }),
    phone_number_id: Type.String({ description: "Meta's phone number id (same as id)" }),
    name: Type.String({ description: 'Your label for the number' }),
    kind: Type.String({ enum: ['production', 'sandbox'] }),
    business_account_id: nullable(Type.String(), 'WhatsApp Business Account id'),
    customer_id: nullable(Type.String({ format: 'uuid' })),
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
  { additionalProperties: false },
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
  { additionalProperties: false },
);
export type UpdatePhoneNumberBody = Static<typeof UpdatePhoneNumberBody>;

export const ListPhoneNumbersQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String()),
  business_account_id: Type.Optional(Type.String()),
  customer_id: Type.Optional(Type.String({ format: 'uuid' })),
  name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  created_after: Type.Optional(Type.String({ format: 'date-time' })),
  created_before: Type.Optional(Type.String({ format: 'date-time' })),
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

export const createPhoneNumberSchema = {
  summary: 'Connect a phone number',
  tags: ['Phone Numbers'],
  params: CustomerParams,
  body: CreatePhoneNumberBody,
  response: { 201: Response, 404: errorResponse('Customer not found'), 409: errorResponse('This Meta phone number is already connected'), ...bodyErrors, ...authErrors },
};
export const listPhoneNumbersSchema = {
  summary: 'List phone numbers',
  tags: ['Phone Numbers'],
  querystring: ListPhoneNumbersQuery,
  response: { 200: Type.Object({ data: Type.Array(PhoneNumberSchema), meta: MetaSchema }), 400: errorResponse('Bad pagination parameters'), 422: errorResponse('A filter value is invalid'), ...authErrors },
};
export const getPhoneNumberSchema = { summary: 'Get a phone number', tags: ['Phone Numbers'], params: NumberParams, response: { 200: Response, 404: notFound, ...authErrors } };
export const updatePhoneNumberSchema = {
  summary: 'Update a phone number',
  description: 'Rename, rotate the access token, or switch inbound processing and calls on or off.',
  tags: ['Phone Numbers'],
  params: NumberParams,
  body: UpdatePhoneNumberBody,
  response: { 200: Response, 404: notFound, ...bodyErrors, ...authErrors },
};
export const deletePhoneNumberSchema = {
  summary: 'Disconnect a phone number',
  description: 'Its conversations and messages stay readable.',
  tags: ['Phone Numbers'],
  params: NumberParams,
  response: { 204: Type.Null({ description: 'Disconnected' }), 404: notFound, ...authErrors },
};
