// Which connected number a proxy path names, and so whose token a forwarded call carries.
// A number, WABA or object of another project is answered exactly like one that does not exist:
// a 404, with nothing forwarded, so that no key learns what other projects hold.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { findByMetaIdOrWabaCached, type PhoneNumberWithToken } from '../phone-numbers/repo.ts';
import { invalidParameter, phoneNumberNotFound } from './errors.ts';

export type TargetKind =
  /** `{pnid}` or `{pnid}/<edge>`. */
  | 'number'
  /** `{waba}/message_templates`, `{waba}/flows`, `{waba}/phone_numbers`… */
  | 'waba'
  /** `{media_id}`, `{flow_id}/…`, `{template_id}`: the number comes from the query. */
  | 'object';

export interface ProxyTarget {
  kind: TargetKind;
  /** The number whose token the call carries (for a WABA: its most recently updated number). */
  number: PhoneNumberWithToken;
}

/** Query parameters by which the SDK names the number (or WABA) of an object path. */
const OWNER_PARAMS = ['phone_number_id', 'business_account_id'] as const;
/** Edges below an object id (a flow's); any other edge names a number, whatever the query says. */
const OBJECT_EDGES = new Set(['assets', 'publish', 'deprecate']);

function ownerFromQuery(query: Record<string, unknown>): string | null {
  for (const name of OWNER_PARAMS) {
    const value = query[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

export async function resolveTarget(db: Kysely<Database>, projectId: string, segments: readonly string[], query: Record<string, unknown>): Promise<ProxyTarget> {
  const first = segments[0]!;
  const hasEdge = segments.length > 1;
  const owner = ownerFromQuery(query);
  const rows = await findByMetaIdOrWabaCached(db, projectId, first);
  const number = rows.find((r) => r.phone_number_id === first);
  if (number) return { kind: 'number', number };
  if (rows.length > 0) return { kind: 'waba', number: rows[0]! };
  if (hasEdge && (segments.length > 2 || !OBJECT_EDGES.has(segments[1]!))) throw phoneNumberNotFound();
  if (owner === null) {
    throw invalidParameter('phone_number_id (or business_account_id) query parameter is required to address a media, flow or template object');
  }
  const owners = await findByMetaIdOrWabaCached(db, projectId, owner);
  if (owners.length === 0) throw phoneNumberNotFound();
  return { kind: 'object', number: owners[0]! };
}
