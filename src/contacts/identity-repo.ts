// SQL for contacts as WhatsApp traffic sees them: matched by BSUID first, then by wa_id, and
// filled in from what Meta tells us. Used by the inbound processor inside its transaction.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** What one Meta event says about a user. Empty strings from Meta arrive here as null. */
export interface WhatsappIdentity {
  waId: string | null;
  bsuid: string | null;
  parentBsuid: string | null;
  username: string | null;
  profileName: string | null;
}

export interface IdentityMatch {
  id: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  profile_name: string | null;
}

const COLUMNS = ['id', 'wa_id', 'business_scoped_user_id', 'parent_business_scoped_user_id', 'username', 'profile_name'] as const;

export async function findByIdentity(db: Executor, projectId: string, identity: Pick<WhatsappIdentity, 'waId' | 'bsuid'>): Promise<IdentityMatch | undefined> {
  const base = db.selectFrom('contacts').select(COLUMNS).where('project_id', '=', projectId).where('erased_at', 'is', null);
  if (identity.bsuid) {
    const byBsuid = await base.where('business_scoped_user_id', '=', identity.bsuid).executeTakeFirst();
    if (byBsuid) return byBsuid;
  }
  if (identity.waId) return base.where('wa_id', '=', identity.waId).executeTakeFirst();
  return undefined;
}

/** Inserts a contact for this identity; undefined when a concurrent insert won the race. */
export async function insertIdentity(db: Executor, projectId: string, identity: WhatsappIdentity): Promise<IdentityMatch | undefined> {
  const result = await sql<IdentityMatch>`
    INSERT INTO contacts (project_id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name)
    VALUES (${projectId}, ${identity.waId}, ${identity.bsuid}, ${identity.parentBsuid}, ${identity.username}, ${identity.profileName})
    ON CONFLICT DO NOTHING
    RETURNING id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name`.execute(db);
  return result.rows[0];
}

export type IdentityChanges = Partial<Pick<IdentityMatch, 'wa_id' | 'business_scoped_user_id' | 'parent_business_scoped_user_id' | 'username' | 'profile_name'>>;

export async function updateIdentity(db: Executor, projectId: string, id: string, changes: IdentityChanges): Promise<void> {
  await db
    .updateTable('contacts')
    .set(changes)
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .execute();
}

/** Whether another visible contact of the project already holds this number or BSUID. */
export async function identityTaken(db: Executor, projectId: string, exceptId: string, field: 'wa_id' | 'business_scoped_user_id', value: string): Promise<boolean> {
  const row = await db
    .selectFrom('contacts')
    .select('id')
    .where('project_id', '=', projectId)
    .where('erased_at', 'is', null)
    .where(field, '=', value)
    .where('id', '<>', exceptId)
    .executeTakeFirst();
  return row !== undefined;
}
