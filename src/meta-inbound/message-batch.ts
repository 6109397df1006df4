// The common case of inbound traffic in one database call: bodies that hold nothing but ordinary
// messages (text, media, reactions, …) on connected numbers are handed, a run at a time, to
// parley_ingest_messages (migration 0004), which does per message what processor.ts does,
// in the same order. Everything rarer — statuses, system messages, preferences, unknown or
// disabled numbers, malformed bodies — goes through processor.ts as before.
import { sql, type Transaction } from 'kysely';
import { IDLE_HOURS } from '../conversations/ingest-repo.ts';
import type { Database } from '../db/schema.ts';
import { queueMediaFetches } from '../media/repo.ts';
import { findConnectedByMetaId, type PhoneNumberRow } from '../phone-numbers/repo.ts';
import { MEDIA_TYPES, type MetaWebhookBody, messageText, metaTime } from './payload.ts';
import { senderIdentity } from './processor.ts';

type Tx = Transaction<Database>;

/** One message as parley_inbound_message reads it; `number` indexes the body's `numbers`. */
interface BatchMessage {
  number: number;
  wamid: string;
  type: string;
  at: string;
  content: string | null;
  has_media: boolean;
  payload: unknown;
  wa_id: string | null;
  bsuid: string | null;
  parent_bsuid: string | null;
  username: string | null;
  profile_name: string | null;
}

/** One body as parley_ingest_messages reads it. */
export interface BatchBody {
  event: number;
  numbers: { project_id: string; internal_id: string; phone_number_id: string }[];
  messages: BatchMessage[];
}

type Numbers = Map<string, PhoneNumberRow | undefined>;

const changesOf = (body: MetaWebhookBody) =>
  (Array.isArray(body?.entry) ? body.entry : []).flatMap((entry) => (Array.isArray(entry?.changes) ? entry.changes : []));

/** Looks up, once per batch, every Meta phone number id the bodies name. */
export async function numbersOf(tx: Tx, bodies: (MetaWebhookBody | null)[]): Promise<Numbers> {
  const numbers: Numbers = new Map();
  for (const body of bodies) {
    if (body === null) continue;
    for (const change of changesOf(body)) {
      const metaId = change?.value?.metadata?.phone_number_id;
      if (typeof metaId === 'string' && !numbers.has(metaId)) numbers.set(metaId, await findConnectedByMetaId(tx, metaId));
    }
  }
  return numbers;
}

/**
 * The body as the batch call takes it, or null when it needs the general path: anything but
 * `messages` changes on connected numbers with inbound processing on, holding only well-formed,
 * non-system messages whose sender is named. Such a body would be `processed` without a note
 * by processor.ts, which is what the batch call records.
 */
export function planBody(event: number, body: MetaWebhookBody | null, numbers: Numbers): BatchBody | null {
  if (body === null) return null;
  const changes = changesOf(body);
  if (changes.length === 0) return null;
  const planned: BatchBody = { event, numbers: [], messages: [] };
  const index = new Map<string, number>();
  for (const change of changes) {
    const value = change?.value;
    const metaId = value?.metadata?.phone_number_id;
    if (change.field !== 'messages' || !value || typeof metaId !== 'string') return null;
    const number = numbers.get(metaId);
    if (!number || !number.inbound_processing_enabled) return null;
    if (value.statuses != null && !(Array.isArray(value.statuses) && value.statuses.length === 0)) return null;
    if (value.messages != null && !Array.isArray(value.messages)) return null;
    if (!index.has(metaId)) {
      index.set(metaId, planned.numbers.length);
      planned.numbers.push({ project_id: number.project_id, internal_id: number.internal_id, phone_number_id: number.phone_number_id });
    }
    for (const message of value.messages ?? []) {
      if (typeof message?.id !== 'string' || message.id === '' || typeof message.type !== 'string' || message.type === 'system') return null;
      const identity = senderIdentity(message, value.contacts);
      if (!identity.waId && !identity.bsuid) return null;
      planned.messages.push({
        number: index.get(metaId)!,
        wamid: message.id,
        type: message.type,
        at: (metaTime(message.timestamp) ?? new Date()).toISOString(),
        content: messageText(message),
        has_media: MEDIA_TYPES.has(message.type),
        payload: message,
        wa_id: identity.waId,
        bsuid: identity.bsuid,
        parent_bsuid: identity.parentBsuid,
        username: identity.username,
        profile_name: identity.profileName,
      });
    }
  }
  return planned;
}

/** Processes a run of planned bodies in one call; throws when any of them fails (the caller holds a savepoint). */
export async function ingestBatch(tx: Tx, bodies: BatchBody[]): Promise<void> {
  await sql`SELECT parley_ingest_messages(${JSON.stringify(bodies)}::jsonb, ${IDLE_HOURS}::int)`.execute(tx);
  // Media files are fetched in the background, queued in this same transaction (src/media/).
  const mediaByProject = new Map<string, string[]>();
  for (const body of bodies) {
    for (const message of body.messages) {
      if (!message.has_media) continue;
      const projectId = body.numbers[message.number]!.project_id;
      mediaByProject.set(projectId, [...(mediaByProject.get(projectId) ?? []), message.wamid]);
    }
  }
  for (const [projectId, wamids] of mediaByProject) await queueMediaFetches(tx, projectId, wamids);
}
