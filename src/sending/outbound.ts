// What a send body and Meta's answer to it say about the message: its recipient, its type, the
// text a person reads, and the message as Meta would show it. Pure functions: no I/O.
import { brazilianVariant } from '../contacts/phone.ts';
import { MEDIA_TYPES } from '../meta-inbound/payload.ts';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);
const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);

/** A WhatsApp id as inbound traffic stores it: 6 to 15 digits, written any way the caller liked. */
export function waIdOf(value: unknown): string | null {
  const raw = text(value);
  if (raw === null || !/^\+?[\d\s().-]+$/.test(raw)) return null;
  const digits = raw.replace(/\D/g, '');
  return /^\d{6,15}$/.test(digits) ? digits : null;
}

/** Business-scoped user ids look like `US.13491208655302741918` (or `US.ENT.…` for parents). */
const bsuidOf = (value: unknown): string | null => {
  const raw = text(value);
  return raw !== null && /^[A-Z]{2}\.[\w.]+$/.test(raw) ? raw : null;
};

export interface Recipient {
  waId: string | null;
  bsuid: string | null;
}

/** The recipient as the request names it (before Meta answers): for the marketing check. */
export function requestedRecipient(body: Json): Recipient & { waIds: string[] } {
  const waId = waIdOf(body.to);
  const bsuid = bsuidOf(body.recipient) ?? bsuidOf(body.to);
  const variant = waId === null ? null : brazilianVariant(waId);
  return { waId, bsuid, waIds: waId === null ? [] : variant ? [waId, variant] : [waId] };
}

/** The recipient as Meta settled it: `contacts[0].wa_id` is the canonical number, `user_id` the BSUID. */
export function acceptedRecipient(body: Json, answer: Json): Recipient {
  const contact = Array.isArray(answer.contacts) && isObject(answer.contacts[0]) ? answer.contacts[0] : {};
  const asked = requestedRecipient(body);
  return { waId: waIdOf(contact.wa_id) ?? asked.waId, bsuid: bsuidOf(contact.user_id) ?? asked.bsuid };
}

/** The wamid Meta gave the message, or null when the answer holds none. */
export function acceptedWamid(answer: unknown): string | null {
  if (!isObject(answer) || !Array.isArray(answer.messages) || !isObject(answer.messages[0])) return null;
  return text(answer.messages[0].id);
}

/** `{"status":"read", "message_id"}` (with or without a typing indicator): not a message. */
export function isReadReceipt(body: Json): boolean {
  return body.status === 'read' && typeof body.message_id === 'string';
}

/** Meta's type of the message; a body without one is a text message, as Meta reads it. */
export function messageType(body: Json): string {
  return text(body.type) ?? 'text';
}

/** The template a body sends: name and language code; null when it is not a template send. */
export function templateOf(body: Json): { name: string; language: string } | null {
  if (messageType(body) !== 'template' || !isObject(body.template)) return null;
  const name = text(body.template.name);
  const language = isObject(body.template.language) ? text(body.template.language.code) : text(body.template.language);
  return name !== null && language !== null ? { name, language } : null;
}

/** The text a person would read, for previews and search (as messageText does for inbound). */
export function outboundText(type: string, part: unknown): string | null {
  if (!isObject(part)) return null;
  switch (type) {
    case 'text':
      return text(part.body);
    case 'image':
    case 'video':
    case 'document':
      return text(part.caption) ?? text(part.filename);
    case 'template':
      return text(part.name);
    case 'interactive':
      return isObject(part.body) ? text(part.body.text) : null;
    case 'reaction':
      return text(part.emoji);
    case 'location':
      return text(part.name) ?? text(part.address);
    default:
      return null;
  }
}

export interface OutboundRecord {
  wamid: string;
  type: string;
  at: string;
  content: string | null;
  has_media: boolean;
  /** The message as Meta shows it in webhooks and Kapso's history: id, timestamp, type, the type's object… */
  payload: Json;
  wa_id: string | null;
  bsuid: string | null;
}

/**
 * The row parley_outbound_message stores for an accepted send. The payload keeps the parts
 * of the request that describe the message (its type object, reply context) and leaves out the
 * envelope (messaging_product, recipient_type, to/recipient).
 */
export function outboundRecord(body: Json, answer: Json, wamid: string, at: Date, businessNumber: string): OutboundRecord | null {
  const recipient = acceptedRecipient(body, answer);
  if (recipient.waId === null && recipient.bsuid === null) return null;
  const type = messageType(body);
  const part = type === 'contacts' ? body.contacts : body[type];
  // `contacts` messages carry a list; every other type an object.
  const content = type === 'contacts' && Array.isArray(part) && isObject(part[0]) && isObject(part[0].name) ? text(part[0].name.formatted_name) : outboundText(type, part);
  const payload: Json = { id: wamid, timestamp: String(Math.floor(at.getTime() / 1000)), type, from: businessNumber };
  if (recipient.waId !== null) payload.to = recipient.waId;
  if (recipient.bsuid !== null) payload.to_user_id = recipient.bsuid;
  if (isObject(body.context)) payload.context = body.context;
  if (part !== undefined) payload[type] = part;
  if (typeof body.biz_opaque_callback_data === 'string') payload.biz_opaque_callback_data = body.biz_opaque_callback_data;
  return { wamid, type, at: at.toISOString(), content, has_media: MEDIA_TYPES.has(type), payload, wa_id: recipient.waId, bsuid: recipient.bsuid };
}
