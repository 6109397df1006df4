// `POST /{pnid}/messages`: checked about as strictly as Meta checks a send, so that a client
// bug shows up against the stand-in too, and answered in Meta's shape with a fresh wamid.
import { randomBytes } from 'node:crypto';
import { invalidParameter, GraphError } from './graph-errors.ts';
import { refusalError, triggerFor, type Trigger } from './triggers.ts';

const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);
export const MESSAGE_TYPES = new Set([...MEDIA_TYPES, 'text', 'location', 'contacts', 'interactive', 'template', 'reaction']);

export interface AcceptedSend {
  kind: 'message';
  wamid: string;
  /** `to` (phone) or `recipient` (BSUID), as the client wrote it. */
  input: string;
  /** E.164 digits for a phone recipient; null for a BSUID. */
  waId: string | null;
  userId: string | null;
  type: string;
  /** The text of a text message (the echo replies with it). */
  text: string | null;
  template: { name: string; language: string } | null;
  trigger: Trigger | null;
  answer: Record<string, unknown>;
}

export interface MarkRead {
  kind: 'read';
  answer: { success: true };
}

let sequence = 0;
const instance = randomBytes(4);

/**
 * `wamid.` + base64, unique within this process and unlikely to repeat across processes. The
 * encoded text is digits and upper-case hex only, whose base64 never holds `+` or `/`, so a
 * wamid can sit in a URL path unescaped, as Meta's do.
 */
export function freshWamid(recipientDigits: string): string {
  sequence += 1;
  const counter = Buffer.alloc(6);
  counter.writeUIntBE(sequence, 0, 6);
  const text = `${recipientDigits.replace(/\D/g, '').slice(-15)}15${Buffer.concat([instance, counter, randomBytes(3)]).toString('hex').toUpperCase()}`;
  return `wamid.HBgL${Buffer.from(text).toString('base64')}`;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/** Why the type object is unusable, or null when it will do. */
function typeProblem(type: string, part: unknown): string | null {
  if (type === 'contacts') return Array.isArray(part) && part.length > 0 ? null : 'contacts must be a non-empty array';
  if (!isObject(part)) return `the ${type} object is required for a message of type ${type}`;
  if (type === 'text') return isText(part.body) ? null : 'text.body is required';
  if (MEDIA_TYPES.has(type)) return isText(part.id) || isText(part.link) ? null : `${type}.id or ${type}.link is required`;
  if (type === 'location') return typeof part.latitude === 'number' || typeof part.latitude === 'string' ? (part.longitude === undefined ? 'location.longitude is required' : null) : 'location.latitude is required';
  if (type === 'template') {
    if (!isText(part.name)) return 'template.name is required';
    if (!isObject(part.language) || !isText(part.language.code)) return 'template.language.code is required';
    return null;
  }
  if (type === 'reaction') return isText(part.message_id) ? null : 'reaction.message_id is required';
  if (type === 'interactive') return isText(part.type) ? null : 'interactive.type is required';
  return null;
}

/**
 * Checks a send and answers it, or throws the GraphError Meta would give. `knownTemplate`
 * says whether a template name exists (null: every name is accepted).
 */
export function acceptSend(body: unknown, knownTemplate: ((name: string, language: string) => boolean) | null): AcceptedSend | MarkRead {
  if (!isObject(body)) throw invalidParameter('The request body must be a JSON object');
  if (body.messaging_product !== 'whatsapp') throw new GraphError(400, '(#100) The parameter messaging_product is required.', 'OAuthException', 100, { details: 'messaging_product must be "whatsapp"' });
  if (body.status !== undefined) {
    if (body.status !== 'read') throw invalidParameter('status must be "read"');
    if (!isText(body.message_id)) throw new GraphError(400, '(#100) The parameter message_id is required.', 'OAuthException', 100);
    if (body.typing_indicator !== undefined && !(isObject(body.typing_indicator) && body.typing_indicator.type === 'text')) throw invalidParameter('typing_indicator.type must be "text"');
    return { kind: 'read', answer: { success: true } };
  }
  const to = body.to;
  const recipient = body.recipient;
  if (to !== undefined && !isText(to)) throw invalidParameter('to must be a phone number');
  if (recipient !== undefined && !isText(recipient)) throw invalidParameter('recipient must be a business-scoped user id');
  if (to === undefined && recipient === undefined) throw new GraphError(400, '(#100) The parameter to is required.', 'OAuthException', 100, { details: 'to (a phone number) or recipient (a business-scoped user id) is required' });
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual' && body.recipient_type !== 'group') throw invalidParameter('recipient_type must be "individual"');
  const type = body.type === undefined ? 'text' : body.type;
  if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) throw invalidParameter(`type ${JSON.stringify(type)} is not a message type (one of ${[...MESSAGE_TYPES].join(', ')})`);
  const problem = typeProblem(type, body[type]);
  if (problem) throw invalidParameter(problem);
  if (body.context !== undefined && !(isObject(body.context) && isText(body.context.message_id))) throw invalidParameter('context.message_id is required when context is given');

  let input: string;
  let waId: string | null = null;
  let userId: string | null = null;
  if (isText(to)) {
    input = to;
    waId = to.replace(/\D/g, '');
    if (waId.length < 7 || waId.length > 15) throw new GraphError(400, '(#100) Invalid parameter', 'OAuthException', 100, { details: `to must be a phone number with its country code, 7 to 15 digits (got "${to}")` });
  } else {
    input = recipient as string;
    userId = input;
  }
  const part = body[type] as Record<string, unknown>;
  const template = type === 'template' ? { name: part.name as string, language: (part.language as { code: string }).code } : null;
  if (template !== null && knownTemplate && !knownTemplate(template.name, template.language)) {
    throw new GraphError(404, '(#132001) Template name does not exist in the translation', 'OAuthException', 132001, { details: `template name (${template.name}) does not exist in ${template.language}` });
  }
  const trigger = triggerFor(input);
  if (trigger?.refusal && !(trigger.refusal.templatesPass && type === 'template')) throw refusalError(trigger.refusal);

  const wamid = freshWamid(waId ?? input);
  const contact = waId !== null ? { input, wa_id: waId } : { input, user_id: userId };
  const message: Record<string, unknown> = { id: wamid };
  if (type === 'template') message.message_status = 'accepted';
  return {
    kind: 'message',
    wamid,
    input,
    waId,
    userId,
    type,
    text: type === 'text' ? (part.body as string) : null,
    template,
    trigger,
    answer: { messaging_product: 'whatsapp', contacts: [contact], messages: [message] },
  };
}
