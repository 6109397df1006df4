// SQL for reading messages through the API. Every function takes the executor and the project
// id; messages of erased contacts and system messages (identity events, not conversation
// content) are invisible.
import type { Kysely, Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import { keysetPage } from '../db/keyset.ts';
import type { Database } from '../db/schema.ts';
import type { CursorRequest } from '../http/pagination.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** Stored message types the API does not serve: Kapso's message type list has none of them. */
export const HIDDEN_TYPES = ['system'];

export interface MessageRow {
  id: string;
  wamid: string;
  conversation_id: string;
  phone_number_id: string;
  direction: 'inbound' | 'outbound';
  type: string;
  status: 'pending' | 'sent' | 'delivered' | 'read' | 'failed';
  sent_at: string;
  payload: unknown;
  statuses: unknown;
  has_media: boolean;
  content: string | null;
  created_at: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  username: string | null;
  display_name: string | null;
  profile_name: string | null;
  display_phone_number: string | null;
  /** The stored file of a media message (src/media/), null until it is fetched. */
  media_file_id: string | null;
  media_mime_type: string | null;
  media_filename: string | null;
  media_byte_size: number | null;
}

export interface MessageFilters {
  phoneNumberId?: string;
  conversationId?: string;
  phoneNumberContains?: string;
  businessScopedUserId?: string;
  direction?: 'inbound' | 'outbound';
  status?: string;
  messageType?: string;
  hasMedia?: boolean;
  /** Inclusive bounds on the message's own time (Meta's timestamp), ISO 8601. */
  sentSince?: string;
  sentUntil?: string;
}

function visible(db: Executor, projectId: string) {
  return db
    .selectFrom('messages as m')
    .innerJoin('contacts as k', 'k.id', 'm.contact_id')
    .innerJoin('conversations as c', 'c.id', 'm.conversation_id')
    .innerJoin('phone_numbers as p', 'p.internal_id', 'c.phone_number_internal_id')
    .leftJoin('media_files as f', 'f.message_id', 'm.id')
    .where('m.project_id', '=', projectId)
    .where('k.erased_at', 'is', null)
    .where('m.type', 'not in', HIDDEN_TYPES)
    .select([
      'm.id',
      'm.wamid',
      'm.conversation_id',
      'm.phone_number_id',
      'm.direction',
      'm.type',
      'm.status',
      'm.sent_at',
      'm.payload',
      'm.statuses',
      'm.has_media',
      'm.content',
      'm.created_at',
      'k.wa_id',
      'k.business_scoped_user_id',
      'k.username',
      'k.display_name',
      'k.profile_name',
      'p.display_phone_number',
      'f.id as media_file_id',
      'f.mime_type as media_mime_type',
      'f.filename as media_filename',
      'f.byte_size as media_byte_size',
    ]);
}

type VisibleQuery = ReturnType<typeof visible>;


function applyFilters(query: VisibleQuery, filters: MessageFilters): VisibleQuery {
  let q = query;
  if (filters.phoneNumberId !== undefined) q = q.where('m.phone_number_id', '=', filters.phoneNumberId);
  if (filters.conversationId !== undefined) q = q.where('m.conversation_id', '=', filters.conversationId);
  if (filters.phoneNumberContains !== undefined) q = q.where('k.wa_id', 'like', containsPattern(filters.phoneNumberContains));
  if (filters.businessScopedUserId !== undefined) q = q.where('k.business_scoped_user_id', '=', filters.businessScopedUserId);
  if (filters.direction !== undefined) q = q.where('m.direction', '=', filters.direction);
  if (filters.status !== undefined) q = q.where('m.status', '=', filters.status as MessageRow['status']);
  if (filters.messageType !== undefined) q = q.where('m.type', '=', filters.messageType);
  if (filters.hasMedia !== undefined) q = q.where('m.has_media', '=', filters.hasMedia);
  if (filters.sentSince !== undefined) q = q.where('m.sent_at', '>=', filters.sentSince);
  if (filters.sentUntil !== undefined) q = q.where('m.sent_at', '<=', filters.sentUntil);
  return q;
}

/** With `phoneNumberId`, only a message of that business number (Meta's id) is found. */
export async function findMessage(db: Executor, projectId: string, wamid: string, phoneNumberId?: string): Promise<MessageRow | undefined> {
  let query = visible(db, projectId).where('m.wamid', '=', wamid);
  if (phoneNumberId !== undefined) query = query.where('m.phone_number_id', '=', phoneNumberId);
  return (await query.executeTakeFirst()) as MessageRow | undefined;
}

/** One page in (created_at, id) order, newest first, with one extra row to tell whether more follow. */
export async function listMessages(db: Executor, projectId: string, filters: MessageFilters, page: CursorRequest): Promise<MessageRow[]> {
  const query = keysetPage(applyFilters(visible(db, projectId), filters), page, { time: 'm.created_at', id: 'm.id' });
  return (await query.execute()) as MessageRow[];
}
