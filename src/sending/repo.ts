// SQL of the send path: the marketing check before a template goes out, and the recording of
// messages Meta accepted, one statement for one send or many (parley_outbound_messages of
// migration 0015, which records each as parley_outbound_message of 0007 and 0014 does).
import { type Kysely, sql, type Transaction } from 'kysely';
import { IDLE_HOURS } from '../conversations/ingest-repo.ts';
import type { Database } from '../db/schema.ts';
import type { OutboundRecord } from './outbound.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** Whether the person stopped marketing messages from this number (their newest event says so). */
export async function marketingStopped(db: Executor, projectId: string, phoneNumberId: string, recipient: { waIds: string[]; bsuid: string | null }): Promise<boolean> {
  if (recipient.waIds.length === 0 && recipient.bsuid === null) return false;
  const result = await sql<{ stopped: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM contacts k JOIN marketing_preferences mp ON mp.contact_id = k.id AND mp.phone_number_id = ${phoneNumberId}
      WHERE k.project_id = ${projectId} AND k.erased_at IS NULL AND mp.status = 'stopped'
        AND (k.wa_id = ANY(${recipient.waIds}::text[]) OR k.business_scoped_user_id = ${recipient.bsuid})
    ) AS stopped`.execute(db);
  return result.rows[0]?.stopped === true;
}

export interface RecordedMessage {
  messageId: string;
  conversationId: string;
}

export interface OutboundItem {
  projectId: string;
  number: { internal_id: string; phone_number_id: string };
  record: OutboundRecord;
}

/** Stores accepted sends with their contacts and conversations in one statement and one commit; position i of the answer is item i's message, null when its wamid is stored already. */
export async function recordOutboundBatch(db: Executor, items: readonly OutboundItem[]): Promise<(RecordedMessage | null)[]> {
  const payload = items.map((x) => ({ project: x.projectId, number: x.number.internal_id, number_id: x.number.phone_number_id, m: x.record }));
  const result = await sql<{ item: number; recorded_message: string; recorded_conversation: string }>`
    SELECT item, recorded_message, recorded_conversation FROM parley_outbound_messages(${JSON.stringify(payload)}::jsonb, ${IDLE_HOURS})`.execute(db);
  const recorded: (RecordedMessage | null)[] = items.map(() => null);
  for (const row of result.rows) recorded[row.item] = { messageId: row.recorded_message, conversationId: row.recorded_conversation };
  return recorded;
}
