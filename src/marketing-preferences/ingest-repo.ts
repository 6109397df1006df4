// SQL for marketing preferences as Meta reports them: the newest event wins, whatever the
// order in which events arrive.
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Tx = Transaction<Database>;

export interface PreferenceEvent {
  projectId: string;
  contactId: string;
  /** Meta's phone number id. */
  phoneNumberId: string;
  status: 'stopped' | 'resumed';
  detail: string | null;
  source: 'meta_webhook' | 'meta_delivery_error' | 'meta_synchronous_error';
  at: Date;
}

export async function recordPreference(tx: Tx, e: PreferenceEvent): Promise<void> {
  await sql`
    INSERT INTO marketing_preferences (project_id, contact_id, phone_number_id, status, detail, source, last_event_at)
    VALUES (${e.projectId}, ${e.contactId}, ${e.phoneNumberId}, ${e.status}, ${e.detail}, ${e.source}, ${e.at.toISOString()})
    ON CONFLICT (contact_id, phone_number_id) DO UPDATE SET
      status = excluded.status, detail = excluded.detail, source = excluded.source,
      last_event_at = excluded.last_event_at, updated_at = clock_timestamp()
    WHERE marketing_preferences.last_event_at <= excluded.last_event_at`.execute(tx);
}
