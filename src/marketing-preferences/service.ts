// The rules of the marketing preferences API: resolve the contact as every contact route does,
// then tell "no such contact", "no such number" and "no recorded change" apart.
import type { Kysely } from 'kysely';
import { findContact } from '../contacts/repo.ts';
import { parseIdentifier } from '../contacts/service.ts';
import { isoMicros } from '../db/connection.ts';
import type { Database } from '../db/schema.ts';
import { notFound } from '../http/errors.ts';
import { findPhoneNumber } from '../phone-numbers/repo.ts';
import * as repo from './repo.ts';
import type { MarketingPreference } from './schemas.ts';

export function toPreference(row: repo.PreferenceRow): MarketingPreference {
  return {
    id: row.phone_number_id,
    phone_number_id: row.phone_number_id,
    status: row.status,
    detail: row.detail,
    source: row.source,
    marketing_allowed: row.status !== 'stopped',
    config_display_name: row.name,
    last_event_at: isoMicros(row.last_event_at),
    whatsapp_contact_id: row.contact_id,
    created_at: isoMicros(row.created_at),
    updated_at: isoMicros(row.updated_at),
  };
}

export class MarketingPreferencesService {
  constructor(private readonly db: Kysely<Database>) {}

  private async contactId(projectId: string, identifier: string, missing: string): Promise<string> {
    const lookup = parseIdentifier(identifier);
    const contact = lookup ? await findContact(this.db, projectId, lookup) : undefined;
    if (!contact) throw notFound(missing);
    return contact.id;
  }

  async list(projectId: string, identifier: string): Promise<MarketingPreference[]> {
    const contactId = await this.contactId(projectId, identifier, 'Contact not found');
    return (await repo.listPreferences(this.db, projectId, contactId)).map(toPreference);
  }

  async get(projectId: string, identifier: string, phoneNumberId: string): Promise<MarketingPreference> {
    const contactId = await this.contactId(projectId, identifier, 'WhatsApp contact not found');
    const number = await findPhoneNumber(this.db, projectId, phoneNumberId);
    if (!number) throw notFound('WhatsApp configuration not found');
    const row = await repo.findPreference(this.db, projectId, contactId, number.phone_number_id);
    if (!row) throw notFound('Marketing preference not found');
    return toPreference(row);
  }
}
