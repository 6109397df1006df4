// Wire schemas of the contacts API. Each one drives validation, serialisation, the TS types
// and the OpenAPI document; response schemas are allow-lists of what leaves the server.
import { Type, type Static, type TSchema } from 'typebox';
import { authErrors, errorResponse } from '../http/errors.ts';
import { ETAG_HEADER, IDEMPOTENCY_KEY, IF_MATCH, IF_NONE_MATCH, noContent, PAGING_EXAMPLE, REPLAYED_HEADER, success } from '../http/openapi.ts';
import { cursorQueryProperties, MetaSchema, offsetQueryProperties, PagingSchema } from '../http/pagination.ts';

/** `type: [T, "null"]`: cheaper to serialise than anyOf, and what the Kapso document uses. */
export function nullable<T extends TSchema>(schema: T, description?: string) {
  const base = schema as unknown as { type: string };
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [base.type, 'null'], ...(description ? { description } : {}) });
}

export const METADATA_MAX_BYTES = 16 * 1024;
export const METADATA_MAX_DEPTH = 8;

const Metadata = Type.Record(Type.String(), Type.Unknown());

export const ContactSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'Parley contact id' }),
    wa_id: nullable(Type.String(), 'WhatsApp ID: the E.164 number as digits without "+"; null when only a business-scoped user id is known'),
    business_scoped_user_id: nullable(Type.String(), 'Business-scoped user id (BSUID) from WhatsApp traffic'),
    parent_business_scoped_user_id: nullable(Type.String(), 'Parent BSUID from WhatsApp traffic; several contacts may share it'),
    username: nullable(Type.String(), 'WhatsApp username; may change, never an identifier'),
    profile_name: nullable(Type.String(), 'Name the user shows on WhatsApp; null while unknown'),
    display_name: nullable(Type.String(), 'Name your application gives the contact'),
    customer_id: nullable(Type.String({ format: 'uuid' }), 'Customer the contact belongs to'),
    metadata: Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true, description: 'Free key-value data' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A WhatsApp contact' },
);
export type Contact = Static<typeof ContactSchema>;

const ContactResponse = Type.Object({ data: ContactSchema });

/** The contact the document's examples show. */
export const CONTACT_EXAMPLE: Contact = {
  id: '0b8f6c3e-2f4a-4c1d-9e7b-5a6d3c2b1a90',
  wa_id: '14155550123',
  business_scoped_user_id: 'US.13491208655302741918',
  parent_business_scoped_user_id: null,
  username: null,
  profile_name: 'Ana Souza',
  display_name: 'Ana (Lisbon store)',
  customer_id: 'c5a1e7d2-8b3f-4e6a-9d0c-1f2e3d4c5b6a',
  metadata: { plan: 'gold', locale: 'pt-PT' },
  created_at: '2026-03-02T14:05:09.123456Z',
  updated_at: '2026-03-04T09:12:44.503211Z',
};

const writable = {
  profile_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  display_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  customer_id: Type.Optional(nullable(Type.String({ format: 'uuid' }))),
  metadata: Type.Optional(Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true, description: `At most ${METADATA_MAX_BYTES} bytes as JSON, nested at most ${METADATA_MAX_DEPTH} levels` })),
};

export const CreateContactBody = Type.Object(
  {
    contact: Type.Object(
      {
        wa_id: Type.String({ description: 'Phone number in any common written form with its country code; stored as E.164 digits' }),
        ...writable,
      },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    examples: [{ contact: { wa_id: '+1 415 555 0123', display_name: 'Ana (Lisbon store)', customer_id: 'c5a1e7d2-8b3f-4e6a-9d0c-1f2e3d4c5b6a', metadata: { plan: 'gold' } } }],
  },
);
export type CreateContactBody = Static<typeof CreateContactBody>;

/** Read-only fields a client may send back unchanged (they are then ignored). */
export const READ_ONLY_FIELDS = ['id', 'business_scoped_user_id', 'parent_business_scoped_user_id', 'username', 'created_at', 'updated_at'] as const;

export const UpdateContactBody = Type.Object(
  {
    contact: Type.Object(
      {
        wa_id: Type.Optional(Type.String()),
        ...writable,
        ...Object.fromEntries(READ_ONLY_FIELDS.map((f) => [f, Type.Optional(Type.Unknown({ description: 'Read-only: accepted only when unchanged' }))])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ contact: { display_name: 'Ana Souza', metadata: { plan: 'platinum' } } }] },
);
export type UpdateContactBody = {
  contact: Partial<Pick<Contact, 'profile_name' | 'display_name' | 'customer_id' | 'metadata'>> & { wa_id?: string } & Partial<Record<(typeof READ_ONLY_FIELDS)[number], unknown>>;
};

export const ListContactsQuery = Type.Object({
  customer_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only contacts of this customer' })),
  customer_external_id: Type.Optional(Type.String({ description: "Only contacts of the customer with this external_customer_id" })),
  has_customer: Type.Optional(Type.Boolean({ description: 'true: only contacts with a customer; false: only without' })),
  profile_name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Case-insensitive substring of profile_name' })),
  wa_id_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'Substring of the WhatsApp ID digits' })),
  business_scoped_user_id: Type.Optional(Type.String({ description: 'Exact business-scoped user id' })),
  created_after: Type.Optional(Type.String({ format: 'date-time', description: 'Only contacts created after this instant' })),
  created_before: Type.Optional(Type.String({ format: 'date-time', description: 'Only contacts created before this instant' })),
  ...cursorQueryProperties,
  ...offsetQueryProperties,
});
export type ListContactsQuery = Static<typeof ListContactsQuery>;

const LegacyLimitBody = Type.Object(
  {
    message: Type.String(),
    detail: Type.String(),
    requested_page: Type.Integer(),
    requested_per_page: Type.Integer(),
    requested_window: Type.Integer(),
    max_page: Type.Integer(),
    max_window: Type.Integer(),
    cursor_example: Type.String(),
  },
  { description: 'Offset pagination beyond its limits (page 50, per_page 100, window 5000), or another pagination error as {error}' },
);

export const IdentifierParams = Type.Object({
  identifier: Type.String({ description: 'Contact UUID, phone number in any written form with country code, BSUID (CC.xxx) or parent BSUID (CC.ENT.xxx)' }),
});

const notFound = errorResponse('Contact not found');
const invalid = errorResponse('A field is invalid; the message names it');
const etag = { ETag: ETAG_HEADER };

export const listContactsSchema = {
  operationId: 'listWhatsappContactsPlatform',
  summary: 'List contacts',
  description:
    'Newest first. Filters combine. Pages by cursor (limit, after, before) unless page or per_page is given, which selects ' +
    'the older offset pagination (at most page 50, 100 per page, 5000 contacts deep); cursors have no such limit.',
  tags: ['Contacts'],
  querystring: ListContactsQuery,
  response: {
    200: success(
      Type.Object({ data: Type.Array(ContactSchema), meta: Type.Optional(MetaSchema), paging: Type.Optional(PagingSchema) }),
      'A page of contacts: `paging` with cursor pagination, `meta` with offset pagination',
      { example: { data: [CONTACT_EXAMPLE], paging: PAGING_EXAMPLE } },
    ),
    400: Type.Union([LegacyLimitBody, errorResponse('Bad pagination parameters or cursor')], {
      description: 'Offset pagination past its limits (a body explaining them), or bad pagination parameters or cursor ({error})',
    }),
    422: errorResponse('A filter value is invalid'),
    ...authErrors,
  },
};

export const createContactSchema = {
  operationId: 'createWhatsappContactPlatform',
  summary: 'Create a contact',
  description:
    'wa_id may be written in any common form with its country code; it is stored as E.164 digits and must be new in the project. ' +
    'Send an Idempotency-Key to make retries safe: the same key with the same body answers the first 201 again.',
  tags: ['Contacts'],
  body: CreateContactBody,
  headers: Type.Object({ 'idempotency-key': IDEMPOTENCY_KEY }),
  response: {
    201: success(ContactResponse, 'The contact was created', { example: { data: CONTACT_EXAMPLE }, headers: { ...etag, 'Idempotent-Replayed': REPLAYED_HEADER } }),
    400: errorResponse('Malformed JSON'),
    409: errorResponse('A request with this Idempotency-Key is still running'),
    413: errorResponse('Body larger than 1 MiB'),
    415: errorResponse('Unsupported Content-Type'),
    422: invalid,
    ...authErrors,
  },
};

export const getContactSchema = {
  operationId: 'getWhatsappContactPlatform',
  summary: 'Get a contact',
  description: 'The identifier may be the contact id, its phone number in any written form, or a business-scoped user id. Send If-None-Match to skip an unchanged contact.',
  tags: ['Contacts'],
  params: IdentifierParams,
  headers: Type.Object({ 'if-none-match': IF_NONE_MATCH }),
  response: {
    200: success(ContactResponse, 'The contact', { example: { data: CONTACT_EXAMPLE }, headers: etag }),
    304: noContent('If-None-Match matched the current ETag: the contact is unchanged', etag),
    404: notFound,
    ...authErrors,
  },
};

export const updateContactSchema = {
  summary: 'Update a contact',
  description:
    'Absent fields stay as they are and null clears a field. With Content-Type application/json, metadata replaces the stored object; ' +
    'with application/merge-patch+json it is merged into it (RFC 7396), and a key set to null is removed. Send If-Match with the ETag to update only an unchanged contact.',
  operationId: 'updateWhatsappContactPlatform',
  tags: ['Contacts'],
  consumes: ['application/json', 'application/merge-patch+json'],
  params: IdentifierParams,
  headers: Type.Object({ 'if-match': IF_MATCH }),
  body: UpdateContactBody,
  response: {
    200: success(ContactResponse, 'The contact as it is now', { example: { data: { ...CONTACT_EXAMPLE, display_name: 'Ana Souza', metadata: { plan: 'platinum' } } }, headers: etag }),
    400: errorResponse('Malformed JSON'),
    404: notFound,
    412: errorResponse('If-Match does not match the current ETag'),
    413: errorResponse('Body larger than 1 MiB'),
    415: errorResponse('Unsupported Content-Type'),
    422: invalid,
    ...authErrors,
  },
};

export const eraseContactSchema = {
  summary: 'Erase a contact',
  operationId: 'eraseWhatsappContact',
  description:
    'Hides the contact at once and erases it and everything attached to it in a durable background job. ' +
    'Send If-Match to erase only a contact that has not changed since you read it.',
  tags: ['Contacts'],
  params: IdentifierParams,
  headers: Type.Object({ 'if-match': IF_MATCH }),
  response: {
    204: noContent('The contact is hidden and its erasure is queued'),
    404: notFound,
    412: errorResponse('If-Match does not match the current ETag'),
    422: errorResponse('Invalid phone number'),
    ...authErrors,
  },
};
