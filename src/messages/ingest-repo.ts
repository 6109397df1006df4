// SQL that inbound traffic runs on messages: store once per wamid, move statuses forward only,
// park statuses that arrive before their message.
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Tx = Transaction<Database>;

export type MessageStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface NewMessage {
  projectId: string;
  wamid: string;
  conversationId: string;
  contactId: string;
  phoneNumberId: string;
  direction: 'inbound' | 'outbound';
  type: string;
  status: MessageStatus;
  sentAt: Date;
  payload: unknown;
  hasMedia: boolean;
  content: string | null;
}

/** Returns the new message's id, or null when this wamid is already stored (a redelivery). */
export async function insertMessage(tx: Tx, m: NewMessage): Promise<string | null> {
  const result = await sql<{ id: string }>`
    INSERT INTO messages (project_id, wamid, conversation_id, contact_id, phone_number_id, direction, type, status, sent_at, payload, has_media, content)
    VALUES (${m.projectId}, ${m.wamid}, ${m.conversationId}, ${m.contactId}, ${m.phoneNumberId}, ${m.direction}, ${m.type}, ${m.status},
            ${m.sentAt.toISOString()}, ${JSON.stringify(m.payload)}::jsonb, ${m.hasMedia}, ${m.content})
    ON CONFLICT (project_id, wamid) DO NOTHING
    RETURNING id`.execute(tx);
  return result.rows[0]?.id ?? null;
}

/** Order of statuses: a message never moves back (failed is final). */
function rank(value: ReturnType<typeof sql>) {
  return sql`(CASE ${value} WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 ELSE -1 END)`;
}

/**
 * Applies a Meta status to a stored message: the status only moves forward, and each distinct
 * status event is recorded once in `statuses`. Returns false when the message is unknown.
 */
export async function applyStatus(tx: Tx, projectId: string, wamid: string, status: { status: string; [key: string]: unknown }): Promise<boolean> {
  const event = JSON.stringify(status);
  const result = await sql`
    UPDATE messages SET
      status = CASE WHEN ${rank(sql`${status.status}::text`)} > ${rank(sql.ref('status'))} THEN ${status.status} ELSE status END,
      statuses = CASE WHEN statuses @> jsonb_build_array(${event}::jsonb) THEN statuses ELSE statuses || jsonb_build_array(${event}::jsonb) END
    WHERE project_id = ${projectId} AND wamid = ${wamid}`.execute(tx);
  return Number(result.numAffectedRows ?? 0) > 0;
}

export async function parkStatus(tx: Tx, projectId: string, wamid: string, status: unknown): Promise<void> {
  await sql`INSERT INTO pending_statuses (project_id, wamid, status) VALUES (${projectId}, ${wamid}, ${JSON.stringify(status)}::jsonb)`.execute(tx);
}

/** Statuses that were waiting for this message, removed from the waiting table. */
export async function takeParkedStatuses(tx: Tx, projectId: string, wamid: string): Promise<{ status: string }[]> {
  const result = await sql<{ status: { status: string } }>`
    DELETE FROM pending_statuses WHERE project_id = ${projectId} AND wamid = ${wamid} RETURNING status`.execute(tx);
  return result.rows.map((r) => r.status);
}

/**
 * Applies statuses that were parked while their message was being stored by another node (its
 * transaction had not committed when the status looked for it). Run periodically; returns how
 * many it applied.
 */
export async function applyLateParkedStatuses(db: import('kysely').Kysely<Database>, limit = 500): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const parked = await sql<{ id: number; project_id: string; wamid: string; status: { status: string } }>`
      SELECT p.id, p.project_id, p.wamid, p.status FROM pending_statuses p
      WHERE EXISTS (SELECT 1 FROM messages m WHERE m.project_id = p.project_id AND m.wamid = p.wamid)
      ORDER BY p.id LIMIT ${limit} FOR UPDATE OF p SKIP LOCKED`.execute(tx);
    for (const row of parked.rows) await applyStatus(tx, row.project_id, row.wamid, row.status);
    if (parked.rows.length > 0) await sql`DELETE FROM pending_statuses WHERE id = ANY(${parked.rows.map((r) => r.id)}::bigint[])`.execute(tx);
    return parked.rows.length;
  });
}
