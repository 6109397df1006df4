// Turns one stored Meta webhook body into contacts, conversations, messages, statuses and
// marketing preferences. Runs inside the worker's transaction; every step is idempotent, so a
// redelivered body (Meta delivers at least once) changes nothing the second time.
import type { Transaction } from 'kysely';
import { findByIdentity, type WhatsappIdentity } from '../contacts/identity-repo.ts';
import { activeConversation, recordMessage } from '../conversations/ingest-repo.ts';
import type { Database } from '../db/schema.ts';
import { recordPreference } from '../marketing-preferences/ingest-repo.ts';
import { queueMediaFetches } from '../media/repo.ts';
import { applyStatus, insertMessage, parkStatus, takeParkedStatuses } from '../messages/ingest-repo.ts';
import { findConnectedByMetaId, findConnectedByWaba, type PhoneNumberRow } from '../phone-numbers/repo.ts';
import { ingestTemplateChange, TEMPLATE_FIELDS } from '../templates/ingest.ts';
import { moveIdentity, upsertContact } from './contacts.ts';
import { MEDIA_TYPES, type MetaChangeValue, type MetaContact, type MetaMessage, type MetaStatus, type MetaWebhookBody, messageText, metaTime, nonEmpty } from './payload.ts';

type Tx = Transaction<Database>;

/** Meta's error code for "the user stopped marketing messages from this business". */
export const MARKETING_STOPPED_ERROR = 131050;

export interface ProcessResult {
  state: 'processed' | 'skipped';
  note: string | null;
  /** The connected numbers this body was about, for forwarding it to their meta webhooks. */
  numbers: PhoneNumberRow[];
}

function digits(value: string | null): string | null {
  return value !== null && /^\d{6,15}$/.test(value) ? value : null;
}

function profileFor(contacts: MetaContact[] | undefined, waId: string | null, bsuid: string | null): MetaContact | undefined {
  return contacts?.find((c) => (bsuid !== null && c.user_id === bsuid) || (waId !== null && c.wa_id === waId)) ?? (contacts?.length === 1 ? contacts[0] : undefined);
}

export function senderIdentity(message: MetaMessage, contacts: MetaContact[] | undefined): WhatsappIdentity {
  const waId = digits(nonEmpty(message.from));
  const bsuid = nonEmpty(message.from_user_id);
  const contact = profileFor(contacts, waId, bsuid);
  return {
    waId: waId ?? digits(nonEmpty(contact?.wa_id)),
    bsuid: bsuid ?? nonEmpty(contact?.user_id),
    parentBsuid: nonEmpty(message.from_parent_user_id) ?? nonEmpty(contact?.parent_user_id),
    username: nonEmpty(contact?.profile?.username),
    profileName: nonEmpty(contact?.profile?.name),
  };
}

async function ingestMessage(tx: Tx, number: PhoneNumberRow, message: MetaMessage, contacts: MetaContact[] | undefined): Promise<void> {
  if (typeof message.id !== 'string' || message.id === '' || typeof message.type !== 'string') throw new Error('message without id or type');
  const identity = senderIdentity(message, contacts);
  const system = message.type === 'system' ? message.system : undefined;
  const contact =
    system && (system.type === 'user_changed_number' || system.type === 'user_changed_user_id')
      ? await moveIdentity(tx, number.project_id, identity, { waId: digits(nonEmpty(system.wa_id ?? system.new_wa_id)), bsuid: nonEmpty(system.user_id) })
      : await upsertContact(tx, number.project_id, identity);
  if (!contact) throw new Error(`message ${message.id} names no sender`);

  const at = metaTime(message.timestamp) ?? new Date();
  const conversation = await activeConversation(tx, number.project_id, number, contact.id, at);
  const text = messageText(message);
  const stored = await insertMessage(tx, {
    projectId: number.project_id,
    wamid: message.id,
    conversationId: conversation.id,
    contactId: contact.id,
    phoneNumberId: number.phone_number_id,
    direction: 'inbound',
    type: message.type,
    status: 'delivered',
    sentAt: at,
    payload: message,
    hasMedia: MEDIA_TYPES.has(message.type),
    content: text,
  });
  if (stored === null) return; // already stored: a redelivery
  if (MEDIA_TYPES.has(message.type)) await queueMediaFetches(tx, number.project_id, [message.id]);
  await recordMessage(tx, conversation.id, { wamid: message.id, type: message.type, at, text, direction: 'inbound' });
  for (const parked of await takeParkedStatuses(tx, number.project_id, message.id)) {
    await applyStatus(tx, number.project_id, message.id, parked);
  }
}

async function ingestStatus(tx: Tx, number: PhoneNumberRow, status: MetaStatus): Promise<void> {
  if (typeof status.id !== 'string' || typeof status.status !== 'string') throw new Error('status without id or status');
  if (!(await applyStatus(tx, number.project_id, status.id, status))) await parkStatus(tx, number.project_id, status.id, status);
  if (status.status === 'failed' && status.errors?.some((e) => e.code === MARKETING_STOPPED_ERROR)) {
    const contact = await findByIdentity(tx, number.project_id, { waId: digits(nonEmpty(status.recipient_id)), bsuid: nonEmpty(status.recipient_user_id) });
    if (contact) {
      await recordPreference(tx, {
        projectId: number.project_id,
        contactId: contact.id,
        phoneNumberId: number.phone_number_id,
        status: 'stopped',
        detail: status.errors.find((e) => e.code === MARKETING_STOPPED_ERROR)?.title ?? null,
        source: 'meta_delivery_error',
        at: metaTime(status.timestamp) ?? new Date(),
      });
    }
  }
}

async function ingestPreferences(tx: Tx, number: PhoneNumberRow, value: MetaChangeValue): Promise<void> {
  for (const preference of value.user_preferences ?? []) {
    if (preference.category !== 'marketing_messages' || (preference.value !== 'stop' && preference.value !== 'resume')) continue;
    const waId = digits(nonEmpty(preference.wa_id));
    const bsuid = nonEmpty(preference.user_id);
    const profile = profileFor(value.contacts, waId, bsuid);
    const contact = await upsertContact(tx, number.project_id, {
      waId,
      bsuid,
      parentBsuid: nonEmpty(profile?.parent_user_id),
      username: nonEmpty(profile?.profile?.username),
      profileName: nonEmpty(profile?.profile?.name),
    });
    if (!contact) continue;
    await recordPreference(tx, {
      projectId: number.project_id,
      contactId: contact.id,
      phoneNumberId: number.phone_number_id,
      status: preference.value === 'stop' ? 'stopped' : 'resumed',
      detail: nonEmpty(preference.detail),
      source: 'meta_webhook',
      at: metaTime(preference.timestamp) ?? new Date(),
    });
  }
}

export async function processEvent(tx: Tx, body: MetaWebhookBody): Promise<ProcessResult> {
  const notes: string[] = [];
  let handled = 0;
  const numbers = new Map<string, PhoneNumberRow | undefined>();
  for (const entry of Array.isArray(body.entry) ? body.entry : []) {
    for (const change of Array.isArray(entry?.changes) ? entry.changes : []) {
      const value = change?.value;
      if (value && typeof change.field === 'string' && TEMPLATE_FIELDS.has(change.field)) {
        // WABA-level: no phone number in the change; the entry's id is the WABA.
        const waba = typeof entry.id === 'string' ? entry.id : null;
        const wabaNumbers = waba === null ? [] : await findConnectedByWaba(tx, waba);
        if (waba === null || wabaNumbers.length === 0) {
          notes.push(`${change.field} for WABA ${waba ?? '(no entry id)'}, which has no connected number`);
          continue;
        }
        await ingestTemplateChange(tx, [...new Set(wabaNumbers.map((n) => n.project_id))], waba, change.field, value as Record<string, unknown>);
        for (const n of wabaNumbers) if (!numbers.has(n.phone_number_id)) numbers.set(n.phone_number_id, n);
        handled += 1;
        continue;
      }
      const metaId = value?.metadata?.phone_number_id;
      if (!value || typeof metaId !== 'string') {
        notes.push('a change without metadata.phone_number_id');
        continue;
      }
      if (!numbers.has(metaId)) numbers.set(metaId, await findConnectedByMetaId(tx, metaId));
      const number = numbers.get(metaId);
      if (!number) {
        notes.push(`phone_number_id ${metaId} is not connected`);
        continue;
      }
      if (!number.inbound_processing_enabled) {
        notes.push(`inbound processing is off for ${metaId}`);
        continue;
      }
      if (change.field === 'messages') {
        for (const message of value.messages ?? []) await ingestMessage(tx, number, message, value.contacts);
        for (const status of value.statuses ?? []) await ingestStatus(tx, number, status);
        handled += 1;
      } else if (change.field === 'user_preferences') {
        await ingestPreferences(tx, number, value);
        handled += 1;
      } else {
        notes.push(`field ${String(change.field)} is not handled`);
      }
    }
  }
  const handledNumbers = [...numbers.values()].filter((n): n is PhoneNumberRow => n !== undefined && n.inbound_processing_enabled);
  return { state: handled > 0 ? 'processed' : 'skipped', note: notes.length > 0 ? notes.join('; ').slice(0, 1000) : null, numbers: handledNumbers };
}
