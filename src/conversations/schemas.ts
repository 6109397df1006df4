// Wire schemas of the conversations API. A conversation is what inbound traffic opened between
// one business number and one contact; the response schema is the allow-list of its fields.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { PAGING_EXAMPLE, success } from '../http/openapi.ts';
import { cursorQueryProperties, PagingSchema } from '../http/pagination.ts';

const instant = (description: string) => Type.String({ format: 'date-time', description });

const KapsoBlock = Type.Object(
  {
    contact_name: nullable(Type.String(), "The contact's display name, else the WhatsApp profile name"),
    messages_count: Type.Integer({ minimum: 0, description: 'Messages stored in this conversation' }),
    last_message_id: nullable(Type.String(), 'WAMID of the newest message'),
    last_message_type: nullable(Type.String(), 'Type of the newest message'),
    last_message_timestamp: Type.Optional(instant('When the newest message was sent; absent before the first message')),
    last_message_text: nullable(Type.String(), 'Readable text of the newest message, when it has any'),
    last_inbound_at: Type.Optional(instant('Newest message from the contact; absent when there is none')),
    last_outbound_at: Type.Optional(instant('Newest message to the contact; absent when there is none')),
  },
  { description: 'Counters and a preview of the newest message' },
);

export const ConversationSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.String({ enum: ['active', 'ended'], description: 'active until ended by you or replaced by a newer conversation' }),
    phone_number: nullable(Type.String(), "The contact's WhatsApp number as digits; null when only a business-scoped user id is known"),
    business_scoped_user_id: nullable(Type.String(), "The contact's business-scoped user id"),
    parent_business_scoped_user_id: nullable(Type.String(), "The contact's parent business-scoped user id"),
    username: nullable(Type.String(), "The contact's WhatsApp username"),
    last_active_at: instant('Newest activity: a message, or a reopening'),
    metadata: Type.Object({}, { additionalProperties: true, description: 'Free key-value data' }),
    phone_number_id: nullable(Type.String(), "Meta's id of the business number"),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    kapso: KapsoBlock,
  },
  { description: 'A WhatsApp conversation between a business number and a contact' },
);
export type Conversation = Static<typeof ConversationSchema>;

/** The conversation the document's examples show. */
export const CONVERSATION_EXAMPLE: Conversation = {
  id: '9a4f2c1d-3b5e-4f6a-8b7c-0d1e2f3a4b5c',
  status: 'active',
  phone_number: '14155550123',
  business_scoped_user_id: 'US.13491208655302741918',
  parent_business_scoped_user_id: null,
  username: null,
  last_active_at: '2026-03-04T09:12:40.000000Z',
  metadata: {},
  phone_number_id: '106540352242922',
  created_at: '2026-03-02T14:05:09.123456Z',
  updated_at: '2026-03-04T09:12:44.503211Z',
  kapso: {
    contact_name: 'Ana (Lisbon store)',
    messages_count: 4,
    last_message_id: 'wamid.HBgLMTQxNTU1NTAxMjMVAgASGBQzQTdGRTk5QzM0QjE0RjRCQTM5MAA=',
    last_message_type: 'text',
    last_message_timestamp: '2026-03-04T09:12:40.000000Z',
    last_message_text: 'Do you have gluten-free bread today?',
    last_inbound_at: '2026-03-04T09:12:40.000000Z',
  },
};

export const ListConversationsQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ description: "Only conversations of this business number (Meta's id)" })),
  phone_number: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: "Part of the contact's number (digits; spaces, +, -, dots and brackets are ignored)" })),
  status: Type.Optional(Type.String({ enum: ['active', 'ended'], description: 'Only conversations in this state' })),
  created_after: Type.Optional(instant('Only conversations opened after this instant')),
  created_before: Type.Optional(instant('Only conversations opened before this instant')),
  last_active_after: Type.Optional(instant('Only conversations active after this instant')),
  last_active_before: Type.Optional(instant('Only conversations active before this instant')),
  ...cursorQueryProperties,
});
export type ListConversationsQuery = Static<typeof ListConversationsQuery>;

export const UpdateConversationBody = Type.Object(
  {
    whatsapp_conversation: Type.Object(
      { status: Type.String({ enum: ['active', 'ended'], description: 'ended closes the conversation; active reopens it' }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, examples: [{ whatsapp_conversation: { status: 'ended' } }] },
);
export type UpdateConversationBody = Static<typeof UpdateConversationBody>;

const ConversationParams = Type.Object({ id: Type.String({ description: 'Conversation id (UUID)' }) });
const ConversationResponse = Type.Object({ data: ConversationSchema });
const notFound = errorResponse('Conversation not found');

export const listConversationsSchema = {
  operationId: 'listWhatsappConversations',
  summary: 'List conversations',
  description: 'Latest activity first, with cursor pagination. Filters combine.',
  tags: ['Conversations'],
  querystring: ListConversationsQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(ConversationSchema), paging: PagingSchema }), 'A page of conversations', {
      example: { data: [CONVERSATION_EXAMPLE], paging: PAGING_EXAMPLE },
    }),
    400: errorResponse('Bad pagination parameters or cursor'),
    422: errorResponse('A filter value is invalid'),
    ...authErrors,
  },
};

export const getConversationSchema = {
  operationId: 'getWhatsappConversation',
  summary: 'Get a conversation',
  description: 'One conversation, with a preview of its newest message in `kapso`.',
  tags: ['Conversations'],
  params: ConversationParams,
  response: { 200: success(ConversationResponse, 'The conversation', { example: { data: CONVERSATION_EXAMPLE } }), 404: notFound, ...authErrors },
};

export const updateConversationSchema = {
  summary: 'End or reopen a conversation',
  description: 'Only one conversation per business number and contact can be active: reopening another one answers 409.',
  operationId: 'updateWhatsappConversation',
  tags: ['Conversations'],
  params: ConversationParams,
  body: UpdateConversationBody,
  response: {
    200: success(ConversationResponse, 'The conversation as it is now', { example: { data: { ...CONVERSATION_EXAMPLE, status: 'ended' } } }),
    400: errorResponse('Malformed JSON'),
    404: notFound,
    409: errorResponse('Another conversation with this contact on this number is active'),
    413: errorResponse('Body larger than 1 MiB'),
    415: errorResponse('Unsupported Content-Type'),
    422: errorResponse('A field is invalid; the message names it'),
    ...authErrors,
  },
};
