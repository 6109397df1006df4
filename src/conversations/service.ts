// The rules of the conversations API: filters, the wire shape, and ending or reopening a
// conversation while at most one per (number, contact) stays active.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import { pgErrorCode, pgErrorConstraint } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { storedFormsOf } from '../contacts/phone.ts';
import { badRequest, conflict, notFound, unprocessable } from '../http/errors.ts';
import { cursorPage, type CursorRequest } from '../http/pagination.ts';
import * as repo from './repo.ts';
import type { Conversation, ListConversationsQuery } from './schemas.ts';
import { UUID } from '../http/uuid.ts';

const NOT_FOUND = 'Conversation not found';
export const CONVERSATION_CURSOR_COLUMN = 'last_active_at';

/** Kapso types these timestamps as strings: an unknown one is left out rather than sent as null. */
function optionalInstant(value: string | null): string | undefined {
  return value === null ? undefined : isoMicros(value);
}

export function toConversation(row: repo.ConversationRow): Conversation {
  const kapso: Conversation['kapso'] = {
    contact_name: row.display_name ?? row.profile_name,
    messages_count: row.messages_count,
    last_message_id: row.last_message_id,
    last_message_type: row.last_message_type,
    last_message_text: row.last_message_text,
  };
  const optional = { last_message_timestamp: row.last_message_at, last_inbound_at: row.last_inbound_at, last_outbound_at: row.last_outbound_at };
  for (const [key, value] of Object.entries(optional)) {
    const instant = optionalInstant(value);
    if (instant !== undefined) kapso[key as keyof typeof optional] = instant;
  }
  return {
    id: row.id,
    status: row.status,
    phone_number: row.wa_id,
    business_scoped_user_id: row.business_scoped_user_id,
    parent_business_scoped_user_id: row.parent_business_scoped_user_id,
    username: row.username,
    last_active_at: isoMicros(row.last_active_at),
    metadata: (row.metadata ?? {}) as Record<string, unknown>,
    phone_number_id: row.phone_number_id,
    created_at: isoMicros(row.created_at),
    updated_at: isoMicros(row.updated_at),
    kapso,
  };
}

/** `+1 (555) 123-45` → `155512345`; 422 when anything but digits remains. */
export function phoneDigitsFilter(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const digits = value.replace(/[\s+().-]/g, '');
  if (!/^\d+$/.test(digits)) throw unprocessable(`${name} must contain only digits (spaces, +, -, dots and brackets are ignored)`);
  return digits;
}

/** Filters of a business number's conversations (the proxy's `GET {pnid}/conversations`). */
export interface NumberConversationFilters {
  status?: 'active' | 'ended';
  /** Inclusive bounds on last_active_at. */
  lastActiveSince?: string;
  lastActiveUntil?: string;
  /** The contact's number in any common written form with its country code; matched exactly. */
  phoneNumber?: string;
}

/** The conversation with the id of its number's connection, which Kapso's proxy calls whatsapp_config_id. */
export type ConversationOfNumber = Conversation & { whatsapp_config_id: string };

function toConversationOfNumber(row: repo.ConversationRow): ConversationOfNumber {
  return { ...toConversation(row), whatsapp_config_id: row.phone_number_internal_id };
}

export class ConversationsService {
  constructor(private readonly db: Kysely<Database>) {}

  async list(projectId: string, query: ListConversationsQuery, cursor: CursorRequest) {
    const rows = await repo.listConversations(
      this.db,
      projectId,
      {
        phoneNumberId: query.phone_number_id,
        phoneNumberContains: phoneDigitsFilter('phone_number', query.phone_number),
        status: query.status as 'active' | 'ended' | undefined,
        createdAfter: query.created_after,
        createdBefore: query.created_before,
        lastActiveAfter: query.last_active_after,
        lastActiveBefore: query.last_active_before,
      },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.last_active_at), id: row.id }), CONVERSATION_CURSOR_COLUMN);
    return { data: page.data.map(toConversation), paging: page.paging };
  }

  async get(projectId: string, id: string): Promise<Conversation> {
    if (!UUID.test(id)) throw notFound(NOT_FOUND);
    const row = await repo.findConversation(this.db, projectId, id.toLowerCase());
    if (!row) throw notFound(NOT_FOUND);
    return toConversation(row);
  }

  /** The conversations of one business number (Meta's id), latest activity first. */
  async listOfNumber(projectId: string, phoneNumberId: string, filters: NumberConversationFilters, cursor: CursorRequest) {
    let waIds: string[] | undefined;
    if (filters.phoneNumber !== undefined) {
      waIds = storedFormsOf(filters.phoneNumber) ?? undefined;
      if (waIds === undefined) throw badRequest('phone_number is not a phone number with its country code');
    }
    const rows = await repo.listConversations(
      this.db,
      projectId,
      { phoneNumberId, status: filters.status, lastActiveSince: filters.lastActiveSince, lastActiveUntil: filters.lastActiveUntil, waIds },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.last_active_at), id: row.id }), CONVERSATION_CURSOR_COLUMN);
    return { data: page.data.map(toConversationOfNumber), paging: page.paging };
  }

  /** A conversation of the project; with `phoneNumberId`, only one of that business number. */
  async getOfNumber(projectId: string, id: string, phoneNumberId?: string): Promise<ConversationOfNumber> {
    if (!UUID.test(id)) throw notFound(NOT_FOUND);
    const row = await repo.findConversation(this.db, projectId, id.toLowerCase(), phoneNumberId);
    if (!row) throw notFound(NOT_FOUND);
    return toConversationOfNumber(row);
  }

  async setStatus(projectId: string, id: string, status: 'active' | 'ended'): Promise<Conversation> {
    if (!UUID.test(id)) throw notFound(NOT_FOUND);
    const conversationId = id.toLowerCase();
    try {
      const row = await this.db.transaction().execute(async (tx) => {
        if (!(await repo.setConversationStatus(tx, projectId, conversationId, status))) return undefined;
        return repo.findConversation(tx, projectId, conversationId);
      });
      if (!row) throw notFound(NOT_FOUND);
      return toConversation(row);
    } catch (error) {
      if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'conversations_active_key') {
        const other = await repo.activeSibling(this.db, projectId, conversationId);
        throw conflict(
          `Cannot reopen this conversation: conversation ${other ?? '(another one)'} with the same contact on the same phone number is active; end it first`,
        );
      }
      throw error;
    }
  }
}
