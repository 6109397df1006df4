// Every kind of durable job and its handler. The runner refuses to start with a kind that has
// no handler, so a queued job can never wait for code that does not exist.
import type { Kysely } from 'kysely';
import { deleteErasedContact } from '../contacts/repo.ts';
import { ERASE_JOB } from '../contacts/service.ts';
import type { Database } from '../db/schema.ts';
import type { JobRegistry } from './runner.ts';

export function jobRegistry(db: Kysely<Database>): JobRegistry {
  return {
    [ERASE_JOB]: {
      maxAttempts: 20,
      run: async (payload) => {
        const contactId = (payload as { contact_id?: unknown }).contact_id;
        if (typeof contactId !== 'string') throw new Error('contact.erase job without contact_id');
        await deleteErasedContact(db, contactId);
      },
    },
  };
}
