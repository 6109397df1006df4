// SQL that inbound traffic runs on conversations: find or open the active conversation of a
// (number, contact) pair, keep its counters, end idle ones.
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Tx = Transaction<Database>;

export const IDLE_HOURS = 24;

export interface ConversationRef {
  id: string;
  created: boolean;
}

/**
 * The active conversation for the pair at time `at`, opened when there is none. One that has
 * been idle for 24 hours before `at` is ended first, so the message opens a new one even when
 * the sweep has not run yet.
 */
export async function activeConversation(
  tx: Tx,
  projectId: string,
  number: { internal_id: string; phone_number_id: string },
  contactId: string,
  at: Date,
): Promise<ConversationRef> {
  for (;;) {
    const result = await sql<{ id: string; created: boolean; stale: boolean }>`
      INSERT INTO conversations (project_id, phone_number_internal_id, phone_number_id, contact_id, last_active_at)
      VALUES (${projectId}, ${number.internal_id}, ${number.phone_number_id}, ${contactId}, ${at.toISOString()})
      ON CONFLICT (phone_number_internal_id, contact_id) WHERE status = 'active'
      DO UPDATE SET status = 'active'
      RETURNING id, (xmax = 0) AS created, (last_active_at < ${at.toISOString()}::timestamptz - make_interval(hours => ${IDLE_HOURS})) AS stale`.execute(tx);
    const row = result.rows[0]!;
    if (!row.stale) return { id: row.id, created: row.created };
    await endConversation(tx, row.id);
  }
}

export async function endConversation(tx: Tx, id: string): Promise<void> {
  await sql`UPDATE conversations SET status = 'ended', ended_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = ${id} AND status = 'active'`.execute(tx);
}

/** Counts a newly stored message; `last_*` only move forward in Meta time (order-tolerant). */
export async function recordMessage(
  tx: Tx,
  conversationId: string,
  message: { wamid: string; type: string; at: Date; text: string | null; direction: 'inbound' | 'outbound' },
): Promise<void> {
  const at = message.at.toISOString();
  const newest = sql`(last_message_at IS NULL OR last_message_at <= ${at}::timestamptz)`;
  await sql`
    UPDATE conversations SET
      messages_count = messages_count + 1,
      last_message_id = CASE WHEN ${newest} THEN ${message.wamid} ELSE last_message_id END,
      last_message_type = CASE WHEN ${newest} THEN ${message.type} ELSE last_message_type END,
      last_message_text = CASE WHEN ${newest} THEN ${message.text} ELSE last_message_text END,
      last_message_at = greatest(last_message_at, ${at}::timestamptz),
      last_inbound_at = CASE WHEN ${message.direction} = 'inbound' THEN greatest(last_inbound_at, ${at}::timestamptz) ELSE last_inbound_at END,
      last_outbound_at = CASE WHEN ${message.direction} = 'outbound' THEN greatest(last_outbound_at, ${at}::timestamptz) ELSE last_outbound_at END,
      last_active_at = greatest(last_active_at, ${at}::timestamptz),
      updated_at = clock_timestamp()
    WHERE id = ${conversationId}`.execute(tx);
}

/** Ends every conversation idle for 24 hours; returns how many. Safe on any number of nodes. */
export async function endIdleConversations(db: Tx | import('kysely').Kysely<Database>, now: Date): Promise<number> {
  const result = await sql`
    UPDATE conversations SET status = 'ended', ended_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE status = 'active' AND last_active_at < ${now.toISOString()}::timestamptz - make_interval(hours => ${IDLE_HOURS})`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
