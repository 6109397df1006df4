// Wire schemas of the Kapso extensions the proxy serves from Parley's own data: the queries of
// the history lists and the bodies of the two updates. Queries allow keys they do not name (the
// SDK passes any extra option through as a query parameter); bodies do not.
import { Type } from 'typebox';
import { nullable } from '../contacts/schemas.ts';

const instant = (description: string) => Type.String({ format: 'date-time', description });

const paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Items per page, 1 to 100 (default 20)' })),
  after: Type.Optional(Type.String({ description: 'Cursor of the last item of the page before' })),
  before: Type.Optional(Type.String({ description: 'Cursor of the first item of the page after' })),
  fields: Type.Optional(Type.String({ description: 'kapso(…) chooses the keys of the kapso block; kapso() leaves it out' })),
};

const open = { additionalProperties: true };

export const MessageHistoryQuery = Type.Object(
  {
    conversation_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only messages of this conversation' })),
    direction: Type.Optional(Type.String({ enum: ['inbound', 'outbound'] })),
    status: Type.Optional(Type.String({ enum: ['pending', 'sent', 'delivered', 'read', 'failed'] })),
    since: Type.Optional(instant('Only messages sent at or after this instant')),
    until: Type.Optional(instant('Only messages sent at or before this instant')),
    ...paging,
  },
  open,
);

export const FieldsQuery = Type.Object({ fields: paging.fields }, open);

export const ConversationListQuery = Type.Object(
  {
    status: Type.Optional(Type.String({ enum: ['active', 'ended'] })),
    last_active_since: Type.Optional(instant('Only conversations active at or after this instant')),
    last_active_until: Type.Optional(instant('Only conversations last active at or before this instant')),
    phone_number: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: "The contact's number, in any common written form" })),
    ...paging,
  },
  open,
);

export const ContactListQuery = Type.Object(
  {
    wa_id: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: "The contact's number, in any common written form" })),
    customer_id: Type.Optional(Type.String({ format: 'uuid', description: 'Only contacts of this customer' })),
    has_customer: Type.Optional(Type.Boolean({ description: 'true: only contacts with a customer; false: only without' })),
    ...paging,
  },
  open,
);

export const CallListQuery = Type.Object(
  {
    direction: Type.Optional(Type.String({ enum: ['inbound', 'outbound'] })),
    status: Type.Optional(Type.String({ enum: ['initiated', 'ringing', 'answered', 'completed', 'failed'] })),
    since: Type.Optional(instant('Only calls started at or after this instant')),
    until: Type.Optional(instant('Only calls started at or before this instant')),
    ...paging,
  },
  open,
);

export const ConversationStatusBody = Type.Object(
  { status: Type.String({ enum: ['active', 'ended'], description: 'ended closes the conversation; active reopens it' }) },
  { additionalProperties: false },
);

export const ContactChangesBody = Type.Object(
  {
    profile_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
    display_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
    metadata: Type.Optional(
      Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true, description: 'Replaces the stored metadata; keys are stored as sent' }),
    ),
  },
  { additionalProperties: false },
);

/** The answer of an update, as Meta answers one. */
export const SUCCESS = { success: true } as const;
