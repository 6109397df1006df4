// Contacts from Meta traffic: one contact per user however Meta names them (BSUID, number or
// both), filled in as Meta tells us more, moved (not duplicated) when the user changes number.
import type { Transaction } from 'kysely';
import * as identities from '../contacts/identity-repo.ts';
import type { IdentityChanges, IdentityMatch, WhatsappIdentity } from '../contacts/identity-repo.ts';
import type { Database } from '../db/schema.ts';

type Tx = Transaction<Database>;

async function fill(tx: Tx, projectId: string, found: IdentityMatch, identity: WhatsappIdentity): Promise<IdentityMatch> {
  const changes: IdentityChanges = {};
  if (identity.profileName && identity.profileName !== found.profile_name) changes.profile_name = identity.profileName;
  if (identity.username && identity.username !== found.username) changes.username = identity.username;
  if (identity.parentBsuid && identity.parentBsuid !== found.parent_business_scoped_user_id) changes.parent_business_scoped_user_id = identity.parentBsuid;
  // A known number is never replaced by an empty one; a missing one is filled in unless another
  // contact already holds it (that contact stays as it is: nothing is merged silently).
  if (identity.waId && identity.waId !== found.wa_id && !(await identities.identityTaken(tx, projectId, found.id, 'wa_id', identity.waId))) {
    changes.wa_id = identity.waId;
  }
  if (identity.bsuid && identity.bsuid !== found.business_scoped_user_id && !(await identities.identityTaken(tx, projectId, found.id, 'business_scoped_user_id', identity.bsuid))) {
    changes.business_scoped_user_id = identity.bsuid;
  }
  if (Object.keys(changes).length === 0) return found;
  await identities.updateIdentity(tx, projectId, found.id, changes);
  return { ...found, ...changes };
}

/** The contact for this identity, created or completed as needed. */
export async function upsertContact(tx: Tx, projectId: string, identity: WhatsappIdentity): Promise<IdentityMatch | null> {
  if (!identity.waId && !identity.bsuid) return null;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const found = await identities.findByIdentity(tx, projectId, identity);
    if (found) return fill(tx, projectId, found, identity);
    const inserted = await identities.insertIdentity(tx, projectId, identity);
    if (inserted) return inserted;
    // Another worker inserted the same user between our read and write: read again.
  }
  throw new Error('could not settle the contact for an inbound identity');
}

/**
 * `user_changed_number` / `user_changed_user_id`: the contact known by the old identity takes
 * the new number and BSUID. When a contact with the new identity exists already, both are kept.
 */
export async function moveIdentity(tx: Tx, projectId: string, old: WhatsappIdentity, next: { waId: string | null; bsuid: string | null }): Promise<IdentityMatch | null> {
  const found = await identities.findByIdentity(tx, projectId, old);
  if (!found) return upsertContact(tx, projectId, { ...old, waId: next.waId ?? old.waId, bsuid: next.bsuid ?? old.bsuid });
  const changes: IdentityChanges = {};
  if (next.waId && next.waId !== found.wa_id && !(await identities.identityTaken(tx, projectId, found.id, 'wa_id', next.waId))) changes.wa_id = next.waId;
  if (next.bsuid && next.bsuid !== found.business_scoped_user_id && !(await identities.identityTaken(tx, projectId, found.id, 'business_scoped_user_id', next.bsuid))) {
    changes.business_scoped_user_id = next.bsuid;
  }
  if (Object.keys(changes).length > 0) await identities.updateIdentity(tx, projectId, found.id, changes);
  return { ...found, ...changes };
}
