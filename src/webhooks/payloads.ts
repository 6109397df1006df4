// The JSON a webhook receives for each event (payload version v2), rendered from the outbox
// row's subject with the same serialisers the API uses. null: the subject is gone (e.g. the
// contact was erased before dispatch) and there is nothing to say.
import type { Kysely } from 'kysely';
import { type ContactRow, findContact } from '../contacts/repo.ts';
import { toContact } from '../contacts/service.ts';
import type { Contact } from '../contacts/schemas.ts';
import { findConversation } from '../conversations/repo.ts';
import { toConversation } from '../conversations/service.ts';
import type { Database } from '../db/schema.ts';
import { findMessage } from '../messages/repo.ts';
import { toMessage } from '../messages/service.ts';
import { findByInternalId } from '../phone-numbers/repo.ts';
import { toPhoneNumber } from '../phone-numbers/service.ts';

export interface OutboxEvent {
  id: string;
  project_id: string;
  phone_number_id: string | null;
  webhook_id: string | null;
  event: string;
  subject: Record<string, unknown>;
  created_at: string;
  /** Failed dispatch tries so far. */
  attempts?: number;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

async function conversationPayload(db: Kysely<Database>, event: OutboxEvent) {
  const row = await findConversation(db, event.project_id, text(event.subject.conversation_id));
  return row ? toConversation(row) : null;
}

/** Keys of the rendered body that the deliveries log shows (conversation's contact number). */
export interface Rendered {
  body: Record<string, unknown>;
  conversationId: string | null;
  conversationPhoneNumber: string | null;
}

/** The contact a contact event's test sends: every field a real one has, with example values. */
function sampleContact(): Contact {
  const now = new Date().toISOString().replace('Z', '000Z');
  return {
    id: '00000000-0000-4000-8000-000000000000',
    wa_id: '15550000000',
    business_scoped_user_id: null,
    parent_business_scoped_user_id: null,
    username: null,
    profile_name: 'Sample Contact',
    display_name: 'Sample Contact',
    customer_id: null,
    metadata: {},
    created_at: now,
    updated_at: now,
  };
}

/**
 * A test event's body: contact events carry a sample contact in the shape real ones have (a
 * receiver's parser sees what it will see later); other events a short notice. `test: true`
 * tells the receiver it is a sample.
 */
function sampleBody(event: OutboxEvent): Rendered {
  const none = { conversationId: null, conversationPhoneNumber: null };
  if (event.event === 'whatsapp.contact.created') return { body: { test: true, contact: sampleContact() }, ...none };
  if (event.event === 'whatsapp.contact.updated') return { body: { test: true, contact: sampleContact(), changed_fields: ['display_name'] }, ...none };
  if (event.event === 'whatsapp.contact.erased') {
    const { id, wa_id, business_scoped_user_id } = sampleContact();
    return { body: { test: true, contact: { id, wa_id, business_scoped_user_id } }, ...none };
  }
  return { body: { test: true, event: event.event, phone_number_id: event.phone_number_id, sent_at: new Date().toISOString() }, ...none };
}

/** Contacts loaded ahead for a batch of events (by id), so each event needs no query. */
export type Prefetched = Map<string, ContactRow & { project_id: string }>;

export async function renderEvent(db: Kysely<Database>, event: OutboxEvent, prefetched?: Prefetched): Promise<Rendered | null> {
  if (event.subject.sample === true) return sampleBody(event);
  const [family] = event.event.replace(/^whatsapp\./, '').split('.');
  switch (family) {
    case 'message': {
      const row = await findMessage(db, event.project_id, text(event.subject.wamid));
      const conversation = await conversationPayload(db, event);
      if (!row || !conversation) return null;
      return {
        body: { message: toMessage(row), conversation, is_new_conversation: event.subject.is_new_conversation === true, phone_number_id: event.phone_number_id },
        conversationId: conversation.id,
        conversationPhoneNumber: conversation.phone_number ?? null,
      };
    }
    case 'conversation': {
      const conversation = await conversationPayload(db, event);
      if (!conversation) return null;
      const body: Record<string, unknown> = { conversation, phone_number_id: event.phone_number_id };
      if (event.event === 'whatsapp.conversation.inactive') {
        body.inactivity = { minutes: event.subject.minutes };
        if (event.subject.since_message) body.since_message = event.subject.since_message;
      }
      return { body, conversationId: conversation.id, conversationPhoneNumber: conversation.phone_number ?? null };
    }
    case 'phone_number': {
      const row = await findByInternalId(db, event.project_id, text(event.subject.internal_id));
      return row ? { body: { phone_number: toPhoneNumber(row) }, conversationId: null, conversationPhoneNumber: null } : null;
    }
    case 'contact': {
      if (event.event === 'whatsapp.contact.erased') {
        const { contact_id: id, wa_id, business_scoped_user_id } = event.subject;
        return { body: { contact: { id, wa_id, business_scoped_user_id } }, conversationId: null, conversationPhoneNumber: null };
      }
      const id = text(event.subject.contact_id);
      const early = prefetched?.get(id);
      const row = early && early.project_id === event.project_id ? early : await findContact(db, event.project_id, { by: 'id', value: id });
      if (!row) return null;
      const body: Record<string, unknown> = { contact: toContact(row) };
      if (event.event === 'whatsapp.contact.updated') body.changed_fields = event.subject.changed_fields;
      return { body, conversationId: null, conversationPhoneNumber: null };
    }
    default:
      return null;
  }
}
