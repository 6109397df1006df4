// Wire schemas of the messages API. A message is Meta's message object as it arrived, plus
// `to`, `username` and a `kapso` block; Meta's per-type keys pass through unchanged.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { PAGING_EXAMPLE, success } from '../http/openapi.ts';
import { cursorQueryProperties, PagingSchema } from '../http/pagination.ts';
import { MessageMediaProperties } from '../media/message-media.ts';

/** An object Meta defines; every key it holds is passed through. */
const open = (description: string) => Type.Object({}, { additionalProperties: true, description });

const DIRECTIONS = ['inbound', 'outbound'];
const STATUSES = ['pending', 'sent', 'delivered', 'read', 'failed'];

const KapsoBlock = Type.Object(
  {
    direction: Type.String({ enum: DIRECTIONS, description: 'inbound: from the contact; outbound: to the contact' }),
    status: Type.String({ enum: STATUSES, description: 'Delivery status; only moves forward' }),
    whatsapp_conversation_id: Type.String({ format: 'uuid' }),
    origin: Type.String({ enum: ['cloud_api'], description: 'Where the message came from' }),
    phone_number: nullable(Type.String(), "The contact's WhatsApp number as digits"),
    phone_number_id: nullable(Type.String(), "Meta's id of the business number"),
    has_media: Type.Boolean({ description: 'Whether the message carries an image, video, audio, document or sticker' }),
    ...MessageMediaProperties,
    contact_name: nullable(Type.String(), "The contact's display name, else the WhatsApp profile name"),
    content: nullable(Type.String(), 'Readable text of the message, when it has any'),
    statuses: Type.Array(open('A status event as Meta sent it'), { description: 'Status events received for this message, oldest first' }),
  },
  { description: 'What Parley knows about the message beyond Meta' },
);

export const MessageSchema = Type.Object(
  {
    id: Type.String({ description: 'WhatsApp message id (WAMID)' }),
    timestamp: Type.String({ description: 'Unix seconds, as a string (as Meta sends it)' }),
    type: Type.String({ description: "Meta's message type: text, image, audio, …" }),
    from: nullable(Type.String(), "Sender's number as digits; null when only a business-scoped user id is known"),
    from_user_id: Type.Optional(nullable(Type.String(), "Sender's business-scoped user id")),
    from_parent_user_id: Type.Optional(nullable(Type.String(), "Sender's parent business-scoped user id")),
    to: nullable(Type.String(), "The business number (as Meta displays it, else Meta's id) for inbound messages"),
    username: nullable(Type.String(), "The contact's WhatsApp username"),
    context: Type.Optional(open('Reply context: the message this one answers')),
    text: Type.Optional(open('Text payload (type text)')),
    image: Type.Optional(open('Image payload (type image)')),
    video: Type.Optional(open('Video payload (type video)')),
    audio: Type.Optional(open('Audio payload (type audio)')),
    document: Type.Optional(open('Document payload (type document)')),
    sticker: Type.Optional(open('Sticker payload (type sticker)')),
    location: Type.Optional(open('Location payload (type location)')),
    interactive: Type.Optional(open('Interactive reply payload (type interactive)')),
    button: Type.Optional(open('Quick-reply button payload (type button)')),
    reaction: Type.Optional(open('Reaction payload (type reaction)')),
    order: Type.Optional(open('Order payload (type order)')),
    contacts: Type.Optional(Type.Array(open('A shared contact card'), { description: 'Contacts payload (type contacts)' })),
    kapso: KapsoBlock,
  },
  { additionalProperties: true, description: "A WhatsApp message in Meta's format, with Kapso's extensions" },
);
export type Message = Static<typeof MessageSchema> & Record<string, unknown>;

/** The message the document's examples show. */
export const MESSAGE_EXAMPLE: Message = {
  id: 'wamid.HBgLMTQxNTU1NTAxMjMVAgASGBQzQTdGRTk5QzM0QjE0RjRCQTM5MAA=',
  timestamp: '1772615560',
  type: 'text',
  from: '14155550123',
  from_user_id: 'US.13491208655302741918',
  to: '+351 21 000 0000',
  username: null,
  text: { body: 'Do you have gluten-free bread today?' },
  kapso: {
    direction: 'inbound',
    status: 'delivered',
    whatsapp_conversation_id: '9a4f2c1d-3b5e-4f6a-8b7c-0d1e2f3a4b5c',
    origin: 'cloud_api',
    phone_number: '14155550123',
    phone_number_id: '106540352242922',
    has_media: false,
    contact_name: 'Ana (Lisbon store)',
    content: 'Do you have gluten-free bread today?',
    statuses: [],
  },
};

export const ListMessagesQuery = Type.Object({
  phone_number_id: Type.Optional(Type.String({ description: "Only messages of this business number (Meta's id)" })),
  conversation_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only messages of this conversation' })),
  phone_number: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: "Part of the contact's number (digits; spaces, +, -, dots and brackets are ignored)" })),
  business_scoped_user_id: Type.Optional(Type.String({ description: "The contact's exact business-scoped user id" })),
  direction: Type.Optional(Type.String({ enum: DIRECTIONS, description: 'Only inbound or only outbound messages' })),
  status: Type.Optional(Type.String({ enum: STATUSES, description: 'Only messages with this delivery status' })),
  message_type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Meta's message type, e.g. text or image" })),
  has_media: Type.Optional(Type.Boolean({ description: 'true: only messages with media; false: only without' })),
  ...cursorQueryProperties,
});
export type ListMessagesQuery = Static<typeof ListMessagesQuery>;

const MessageParams = Type.Object({ wamid: Type.String({ description: 'WhatsApp message id (WAMID)' }) });

export const listMessagesSchema = {
  operationId: 'listWhatsappMessages',
  summary: 'List messages',
  description: 'Newest first, with cursor pagination. Filters combine.',
  tags: ['Messages'],
  querystring: ListMessagesQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(MessageSchema), paging: PagingSchema }), 'A page of messages', { example: { data: [MESSAGE_EXAMPLE], paging: PAGING_EXAMPLE } }),
    400: errorResponse('Bad pagination parameters or cursor'),
    422: errorResponse('A filter value is invalid'),
    ...authErrors,
  },
};

export const getMessageSchema = {
  operationId: 'getWhatsappMessage',
  summary: 'Get a message',
  description: 'One message by its WAMID, with every status event received for it.',
  tags: ['Messages'],
  params: MessageParams,
  response: { 200: success(Type.Object({ data: MessageSchema }), 'The message', { example: { data: MESSAGE_EXAMPLE } }), 404: errorResponse('Message not found'), ...authErrors },
};
