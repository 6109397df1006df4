// The rules of the messages API: filters, and the wire shape built from the stored Meta payload.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import type { Database } from '../db/schema.ts';
import { phoneDigitsFilter } from '../conversations/service.ts';
import { notFound } from '../http/errors.ts';
import { cursorPage, type CursorRequest } from '../http/pagination.ts';
import type { StoredMediaLink } from '../media/links.ts';
import { messageMediaFields } from '../media/message-media.ts';
import { nonEmpty } from '../meta-inbound/payload.ts';
import * as repo from './repo.ts';
import type { ListMessagesQuery, Message } from './schemas.ts';

const NOT_FOUND = 'Message not found';

const text = (value: unknown): string | null => (typeof value === 'string' ? nonEmpty(value) : null);

/** The business number as digits when Meta's display form is known, else Meta's id for it. */
function businessNumber(row: repo.MessageRow): string {
  return row.display_phone_number?.replace(/\D/g, '') || row.phone_number_id;
}

/** `mediaLink` makes the links of stored media files; without it they are left out. */
export function toMessage(row: repo.MessageRow, mediaLink?: StoredMediaLink): Message {
  const payload = (row.payload !== null && typeof row.payload === 'object' && !Array.isArray(row.payload) ? row.payload : {}) as Record<string, unknown>;
  const { id: _id, timestamp, type: _type, from, to: _to, username: _username, kapso: _kapso, ...rest } = payload;
  const seconds = typeof timestamp === 'string' || typeof timestamp === 'number' ? String(timestamp) : String(Math.floor(Date.parse(isoMicros(row.sent_at)) / 1000));
  return {
    id: row.wamid,
    timestamp: seconds,
    type: row.type,
    // Meta sends "" for users known only by their business-scoped id.
    from: text(from),
    ...rest,
    to: row.direction === 'inbound' ? businessNumber(row) : row.wa_id,
    username: row.username,
    kapso: {
      direction: row.direction,
      status: row.status,
      whatsapp_conversation_id: row.conversation_id,
      origin: 'cloud_api',
      phone_number: row.wa_id,
      phone_number_id: row.phone_number_id,
      has_media: row.has_media,
      ...messageMediaFields(row, mediaLink),
      contact_name: row.display_name ?? row.profile_name,
      content: row.content,
      statuses: Array.isArray(row.statuses) ? (row.statuses as Record<string, unknown>[]) : [],
    },
  } as Message;
}

/** Filters of a business number's message history (the proxy's `GET {pnid}/messages`). */
export interface NumberHistoryFilters {
  conversationId?: string;
  direction?: 'inbound' | 'outbound';
  status?: string;
  /** Inclusive bounds on the message's own time, the instant its `timestamp` shows. */
  since?: string;
  until?: string;
}

export class MessagesService {
  constructor(private readonly db: Kysely<Database>) {}

  async list(projectId: string, query: ListMessagesQuery, cursor: CursorRequest, mediaLink?: StoredMediaLink) {
    const rows = await repo.listMessages(
      this.db,
      projectId,
      {
        phoneNumberId: query.phone_number_id,
        conversationId: query.conversation_id?.toLowerCase(),
        phoneNumberContains: phoneDigitsFilter('phone_number', query.phone_number),
        businessScopedUserId: query.business_scoped_user_id,
        direction: query.direction as 'inbound' | 'outbound' | undefined,
        status: query.status,
        messageType: query.message_type,
        hasMedia: query.has_media,
      },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map((row) => toMessage(row, mediaLink)), paging: page.paging };
  }

  async get(projectId: string, wamid: string, mediaLink?: StoredMediaLink): Promise<Message> {
    const row = await repo.findMessage(this.db, projectId, wamid);
    if (!row) throw notFound(NOT_FOUND);
    return toMessage(row, mediaLink);
  }

  /** The messages of one business number (Meta's id), newest first. */
  async listOfNumber(projectId: string, phoneNumberId: string, filters: NumberHistoryFilters, cursor: CursorRequest, mediaLink?: StoredMediaLink) {
    const rows = await repo.listMessages(
      this.db,
      projectId,
      {
        phoneNumberId,
        conversationId: filters.conversationId?.toLowerCase(),
        direction: filters.direction,
        status: filters.status,
        sentSince: filters.since,
        sentUntil: filters.until,
      },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map((row) => toMessage(row, mediaLink)), paging: page.paging };
  }

  /** A message of one business number; a message of another number is not found. */
  async getOfNumber(projectId: string, phoneNumberId: string, wamid: string, mediaLink?: StoredMediaLink): Promise<Message> {
    const row = await repo.findMessage(this.db, projectId, wamid, phoneNumberId);
    if (!row) throw notFound(NOT_FOUND);
    return toMessage(row, mediaLink);
  }
}
