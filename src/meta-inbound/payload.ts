// The parts of Meta's WhatsApp webhook payload that Parley reads. Meta adds fields over time;
// everything not named here is kept as received in the stored event and message payloads.
export interface MetaProfile {
  name?: string;
  username?: string;
}

export interface MetaContact {
  wa_id?: string;
  user_id?: string;
  parent_user_id?: string;
  profile?: MetaProfile;
}

export interface MetaMessage {
  id: string;
  from?: string;
  from_user_id?: string;
  from_parent_user_id?: string;
  timestamp: string;
  type: string;
  context?: Record<string, unknown>;
  system?: { type?: string; body?: string; wa_id?: string; user_id?: string; new_wa_id?: string };
  [payload: string]: unknown;
}

export interface MetaError {
  code?: number;
  title?: string;
  message?: string;
  error_data?: { details?: string };
}

export interface MetaStatus {
  id: string;
  status: string;
  timestamp: string;
  recipient_id?: string;
  recipient_user_id?: string;
  errors?: MetaError[];
  [extra: string]: unknown;
}

export interface MetaUserPreference {
  wa_id?: string;
  user_id?: string;
  category?: string;
  value?: string;
  detail?: string;
  timestamp?: number | string;
}

export interface MetaChangeValue {
  messaging_product?: string;
  metadata?: { display_phone_number?: string; phone_number_id?: string };
  contacts?: MetaContact[];
  messages?: MetaMessage[];
  statuses?: MetaStatus[];
  user_preferences?: MetaUserPreference[];
}

export interface MetaChange {
  field?: string;
  value?: MetaChangeValue;
}

export interface MetaWebhookBody {
  object?: string;
  entry?: { id?: string; changes?: MetaChange[] }[];
}

export const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'document', 'sticker']);

/** Unix seconds (as Meta sends them) → Date; null when not a number. */
export function metaTime(value: string | number | undefined): Date | null {
  const seconds = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) return null;
  return new Date(seconds * 1000);
}

/** The text a person would read for this message, for previews and search. */
export function messageText(message: MetaMessage): string | null {
  const part = message[message.type] as Record<string, unknown> | undefined;
  switch (message.type) {
    case 'text':
      return typeof part?.body === 'string' ? part.body : null;
    case 'image':
    case 'video':
    case 'document':
      return typeof part?.caption === 'string' ? part.caption : typeof part?.filename === 'string' ? part.filename : null;
    case 'reaction':
      return typeof part?.emoji === 'string' ? part.emoji : null;
    case 'button':
      return typeof part?.text === 'string' ? part.text : null;
    case 'interactive': {
      const reply = (part?.button_reply ?? part?.list_reply) as { title?: string } | undefined;
      return typeof reply?.title === 'string' ? reply.title : null;
    }
    case 'location':
      return typeof part?.name === 'string' ? part.name : typeof part?.address === 'string' ? part.address : null;
    case 'system':
      return typeof message.system?.body === 'string' ? message.system.body : null;
    case 'order':
      return typeof part?.text === 'string' ? part.text : null;
    default:
      return null;
  }
}

export const nonEmpty = (value: string | undefined | null): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);
