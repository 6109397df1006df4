// Meta's WABA-level template webhooks (`message_template_status_update`,
// `template_category_update`) → the template cache of every project that has the WABA connected.
// They carry no phone number: the entry's id is the WABA.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { applyTemplateChange } from './repo.ts';

type Tx = Transaction<Database>;

export const TEMPLATE_FIELDS = new Set(['message_template_status_update', 'template_category_update']);

/** Webhook events that leave the template usable again, as the status Meta lists for it. */
const STATUS_OF_EVENT: Record<string, string> = { REINSTATED: 'APPROVED', UNLOCKED: 'APPROVED' };

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const idText = (value: unknown): string | null => (typeof value === 'number' && Number.isFinite(value) ? String(value) : text(value));

/**
 * Applies one template change to the cache of each project; throws on a change without a
 * template id (the body is then retried and set aside like any other malformed one).
 */
export async function ingestTemplateChange(tx: Tx, projectIds: readonly string[], waba: string, field: string, value: Record<string, unknown>): Promise<void> {
  const templateId = idText(value.message_template_id);
  if (templateId === null) throw new Error(`${field} without message_template_id`);
  const base = { templateId, name: text(value.message_template_name), language: text(value.message_template_language) };
  let change: Parameters<typeof applyTemplateChange>[3];
  if (field === 'message_template_status_update') {
    const event = text(value.event)?.toUpperCase();
    if (event === undefined) throw new Error('message_template_status_update without event');
    change = { ...base, status: STATUS_OF_EVENT[event] ?? event };
  } else {
    const category = text(value.new_category)?.toUpperCase();
    if (category === undefined) throw new Error('template_category_update without new_category');
    change = { ...base, category };
  }
  for (const projectId of projectIds) await applyTemplateChange(tx, projectId, waba, change);
}
