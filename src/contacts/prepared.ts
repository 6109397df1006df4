// The two statements on the hot path — read a contact and update a contact by identifier — as
// named prepared statements sent straight through pg: PostgreSQL parses and plans each shape
// once per connection, and no query builder runs per request. Everything else goes through
// Kysely (repo.ts). The statements are exported so the benchmark's baseline sends the same ones.
import type pg from 'pg';
import type { EntityTag } from '../http/etag.ts';
import type { ContactChanges, ContactLookup, ContactRow } from './repo.ts';

export const CONTACT_COLUMNS =
  'id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name, display_name, customer_id, metadata, version, created_at, updated_at';

export interface Statement {
  name: string;
  text: string;
  values: unknown[];
}

/** WHERE and ORDER BY that pick the contact an identifier names, with its parameters from `$first`. */
function lookupClause(lookup: ContactLookup, first: number): { where: string; order: string; values: unknown[]; key: string } {
  switch (lookup.by) {
    case 'id':
      return { where: `id = $${first}::uuid`, order: '', values: [lookup.value], key: 'id' };
    case 'bsuid':
      return { where: `business_scoped_user_id = $${first}`, order: '', values: [lookup.value], key: 'bsuid' };
    case 'parent_bsuid':
      return { where: `parent_business_scoped_user_id = $${first}`, order: 'ORDER BY created_at DESC, id DESC', values: [lookup.value], key: 'parent' };
    case 'wa_id':
      if (lookup.alternative === null) return { where: `wa_id = $${first}`, order: '', values: [lookup.value], key: 'wa' };
      // The exact form wins over the Brazilian 9th-digit variant.
      return {
        where: `wa_id IN ($${first}, $${first + 1})`,
        order: `ORDER BY wa_id = $${first} DESC`,
        values: [lookup.value, lookup.alternative],
        key: 'wa2',
      };
  }
}

export function selectContactStatement(projectId: string, lookup: ContactLookup): Statement {
  const clause = lookupClause(lookup, 2);
  return {
    name: `parley_contact_get_${clause.key}`,
    text: `SELECT ${CONTACT_COLUMNS} FROM contacts WHERE project_id = $1 AND erased_at IS NULL AND ${clause.where} ${clause.order} LIMIT 1`,
    values: [projectId, ...clause.values],
  };
}

export interface UpdateOptions {
  mergeMetadata: boolean;
  ifMatch: EntityTag[] | null;
  metadataLimits: { bytes: number; depth: number };
}

const UPDATABLE = ['wa_id', 'profile_name', 'display_name', 'customer_id', 'metadata'] as const;

/**
 * One UPDATE that resolves the identifier, applies the changes and returns the row. With
 * `mergeMetadata` the database merges the metadata into the stored object (RFC 7396), so
 * concurrent merges never lose a key; `parley_check_metadata` enforces the limits on the
 * result and aborts the statement when they are exceeded. version and updated_at move in the
 * contacts_changed trigger, only when a value changes. With `ifMatch`, nothing happens unless
 * the row still has one of those (id, version) pairs.
 */
/**
 * Statement texts by name: a shape's text is the same on every request, so it is built once.
 * Bounded by the shapes that exist (lookup kinds x updated columns x merge/replace x If-Match).
 */
const updateTexts = new Map<string, string>();

export function updateContactStatement(projectId: string, lookup: ContactLookup, changes: ContactChanges, options: UpdateOptions): Statement {
  // The parameters and the shape's key first; the text only when this shape was never seen.
  const values: unknown[] = [projectId];
  let key = '';
  for (const column of UPDATABLE) {
    const value = changes[column];
    if (value === undefined) continue;
    key += column[0];
    values.push(value);
    if (column === 'metadata') {
      key += options.mergeMetadata && value !== null ? 'm' : 'r';
      values.push(options.metadataLimits.bytes, options.metadataLimits.depth);
    }
  }
  const clause = lookupClause(lookup, values.length + 1);
  values.push(...clause.values);
  if (options.ifMatch !== null) {
    values.push(
      options.ifMatch.map((t) => t.id),
      options.ifMatch.map((t) => t.version),
    );
    key += '_if';
  }
  const name = `parley_contact_upd_${clause.key}_${key}`;
  let text = updateTexts.get(name);
  if (text === undefined) {
    text = updateText(changes, options, clause);
    updateTexts.set(name, text);
  }
  return { name, text, values };
}

/** The text of one shape; its parameter numbers follow the order updateContactStatement pushes values in. */
function updateText(changes: ContactChanges, options: UpdateOptions, clause: { where: string; order: string; values: unknown[] }): string {
  let next = 1;
  const param = () => `$${++next}`;
  const sets: string[] = [];
  for (const column of UPDATABLE) {
    const value = changes[column];
    if (value === undefined) continue;
    if (column === 'metadata') {
      const incoming = `${param()}::jsonb`;
      const merged = options.mergeMetadata && value !== null ? `parley_merge_patch(metadata, ${incoming})` : incoming;
      sets.push(`metadata = parley_check_metadata(${merged}, ${param()}::int, ${param()}::int)`);
    } else {
      sets.push(`${column} = ${param()}${column === 'customer_id' ? '::uuid' : '::text'}`);
    }
  }
  if (sets.length === 0) sets.push('version = version');
  // The lookup's parameters come next (clause.where already carries their numbers).
  next += clause.values.length;
  const condition = options.ifMatch === null ? '' : ` AND (id, version) IN (SELECT * FROM unnest(${param()}::uuid[], ${param()}::int[]))`;
  return (
    `UPDATE contacts SET ${sets.join(', ')} WHERE project_id = $1 AND erased_at IS NULL AND id = ` +
    `(SELECT id FROM contacts WHERE project_id = $1 AND erased_at IS NULL AND ${clause.where} ${clause.order} LIMIT 1)${condition} ` +
    `RETURNING ${CONTACT_COLUMNS}`
  );
}

export async function run(pool: pg.Pool, statement: Statement): Promise<ContactRow | undefined> {
  const result = await pool.query<ContactRow>(statement);
  return result.rows[0];
}
