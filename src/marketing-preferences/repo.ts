// SQL for reading marketing preferences through the API; only numbers still connected count.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export interface PreferenceRow {
  contact_id: string;
  status: 'stopped' | 'resumed';
  detail: string | null;
  source: 'meta_webhook' | 'meta_delivery_error' | 'meta_synchronous_error';
  last_event_at: string;
  created_at: string;
  updated_at: string;
  phone_number_id: string;
  name: string;
}

function visible(db: Executor, projectId: string, contactId: string) {
  return db
    .selectFrom('marketing_preferences as mp')
    .innerJoin('phone_numbers as p', (join) => join.onRef('p.phone_number_id', '=', 'mp.phone_number_id').onRef('p.project_id', '=', 'mp.project_id'))
    .where('mp.project_id', '=', projectId)
    .where('mp.contact_id', '=', contactId)
    .where('p.deleted_at', 'is', null)
    .select(['mp.contact_id', 'mp.status', 'mp.detail', 'mp.source', 'mp.last_event_at', 'mp.created_at', 'mp.updated_at', 'p.phone_number_id', 'p.name']);
}

/** The contact's preferences, the latest change first. */
export async function listPreferences(db: Executor, projectId: string, contactId: string): Promise<PreferenceRow[]> {
  return (await visible(db, projectId, contactId).orderBy('mp.last_event_at', 'desc').orderBy('p.phone_number_id', 'asc').execute()) as PreferenceRow[];
}

export async function findPreference(db: Executor, projectId: string, contactId: string, phoneNumberId: string): Promise<PreferenceRow | undefined> {
  return (await visible(db, projectId, contactId).where('mp.phone_number_id', '=', phoneNumberId).executeTakeFirst()) as PreferenceRow | undefined;
}
