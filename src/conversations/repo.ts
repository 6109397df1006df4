// SQL for reading and updating conversations through the API. Every function takes the
// executor and the project id; conversations of erased contacts are invisible.
import { type Kysely, sql, type SqlBool, type Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import { keysetPage } from '../db/keyset.ts';
import type { Database } from '../db/schema.ts';
import type { CursorRequest } from '../http/pagination.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export interface ConversationRow {
  id: string;
  status: 'active' | 'ended';
  phone_number_id: string;
  /** Parley's id of the number's connection (Kapso's whatsapp_config_id). */
  phone_number_internal_id: string;
  metadata: unknown;
  messages_count: number;
  last_message_id: string | null;
  last_message_type: string | null;
  last_message_at: string | null;
  last_message_text: string | null;
  last_inbound_at: string | null;
  last_outbound_at: string | null;
  last_active_at: string;
  created_at: string;
  updated_at: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  display_name: string | null;
  profile_name: string | null;
}

export interface ConversationFilters {
  phoneNumberId?: string;
  phoneNumberContains?: string;
  status?: 'active' | 'ended';
  createdAfter?: string;
  createdBefore?: string;
  lastActiveAfter?: string;
  lastActiveBefore?: string;
  /** Inclusive bounds on last_active_at (the proxy's last_active_since / last_active_until). */
  lastActiveSince?: string;
  lastActiveUntil?: string;
  /** The contact's WhatsApp ID is one of these (a number and its Brazilian variant). */
  waIds?: string[];
}

function visible(db: Executor, projectId: string) {
  return db
    .selectFrom('conversations as c')
    .innerJoin('contacts as k', 'k.id', 'c.contact_id')
    .where('c.project_id', '=', projectId)
    .where('k.erased_at', 'is', null)
    .select([
      'c.id',
      'c.status',
      'c.phone_number_id',
      'c.phone_number_internal_id',
      'c.metadata',
      'c.messages_count',
      'c.last_message_id',
      'c.last_message_type',
      'c.last_message_at',
      'c.last_message_text',
      'c.last_inbound_at',
      'c.last_outbound_at',
      'c.last_active_at',
      'c.created_at',
      'c.updated_at',
      'k.wa_id',
      'k.business_scoped_user_id',
      'k.parent_business_scoped_user_id',
      'k.username',
      'k.display_name',
      'k.profile_name',
    ]);
}

/** With `phoneNumberId`, only a conversation of that business number (Meta's id) is found. */
export async function findConversation(db: Executor, projectId: string, id: string, phoneNumberId?: string): Promise<ConversationRow | undefined> {
  let query = visible(db, projectId).where('c.id', '=', id);
  if (phoneNumberId !== undefined) query = query.where('c.phone_number_id', '=', phoneNumberId);
  return (await query.executeTakeFirst()) as ConversationRow | undefined;
}


type VisibleQuery = ReturnType<typeof visible>;

function applyFilters(query: VisibleQuery, filters: ConversationFilters): VisibleQuery {
  let q = query;
  if (filters.phoneNumberId !== undefined) q = q.where('c.phone_number_id', '=', filters.phoneNumberId);
  if (filters.phoneNumberContains !== undefined) q = q.where('k.wa_id', 'like', containsPattern(filters.phoneNumberContains));
  if (filters.status !== undefined) q = q.where('c.status', '=', filters.status);
  if (filters.createdAfter !== undefined) q = q.where('c.created_at', '>', filters.createdAfter);
  if (filters.createdBefore !== undefined) q = q.where('c.created_at', '<', filters.createdBefore);
  if (filters.lastActiveAfter !== undefined) q = q.where('c.last_active_at', '>', filters.lastActiveAfter);
  if (filters.lastActiveBefore !== undefined) q = q.where('c.last_active_at', '<', filters.lastActiveBefore);
  if (filters.lastActiveSince !== undefined) q = q.where('c.last_active_at', '>=', filters.lastActiveSince);
  if (filters.lastActiveUntil !== undefined) q = q.where('c.last_active_at', '<=', filters.lastActiveUntil);
  if (filters.waIds !== undefined) q = q.where('k.wa_id', 'in', filters.waIds);
  return q;
}

/** One page in (last_active_at, id) order, newest first, with one extra row to tell whether more follow. */
export async function listConversations(db: Executor, projectId: string, filters: ConversationFilters, page: CursorRequest): Promise<ConversationRow[]> {
  const query = keysetPage(applyFilters(visible(db, projectId), filters), page, { time: 'c.last_active_at', id: 'c.id' });
  return (await query.execute()) as ConversationRow[];
}

/**
 * Sets the status. Ending stamps ended_at; reopening clears it and counts as activity, so the
 * inactivity sweep does not end the conversation again at once. Setting the status it already
 * has changes nothing. Returns false when no visible conversation has this id. Reopening while
 * another conversation of the pair is active fails on the index conversations_active_key.
 */
export async function setConversationStatus(db: Executor, projectId: string, id: string, status: 'active' | 'ended'): Promise<boolean> {
  const changed = sql<SqlBool>`status <> ${status}`;
  const result = await db
    .updateTable('conversations')
    .set({
      status,
      ended_at: status === 'ended' ? sql`CASE WHEN ${changed} THEN clock_timestamp() ELSE ended_at END` : null,
      last_active_at: status === 'active' ? sql`CASE WHEN ${changed} THEN greatest(last_active_at, clock_timestamp()) ELSE last_active_at END` : sql`last_active_at`,
      updated_at: sql`CASE WHEN ${changed} THEN clock_timestamp() ELSE updated_at END`,
    })
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .where('contact_id', 'in', (eb) => eb.selectFrom('contacts').select('contacts.id').where('contacts.project_id', '=', projectId).where('contacts.erased_at', 'is', null))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The active conversation of the same (number, contact) pair as `id`, other than `id` itself. */
export async function activeSibling(db: Executor, projectId: string, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('conversations as other')
    .innerJoin('conversations as self', (join) =>
      join.onRef('self.phone_number_internal_id', '=', 'other.phone_number_internal_id').onRef('self.contact_id', '=', 'other.contact_id'),
    )
    .select('other.id')
    .where('self.id', '=', id)
    .where('self.project_id', '=', projectId)
    .where('other.status', '=', 'active')
    .where('other.id', '<>', id)
    .executeTakeFirst();
  return row?.id;
}
