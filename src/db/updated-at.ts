// `updated_at` moves only when an UPDATE changes a value: a PATCH that repeats the stored values
// (or sends none) is a true no-op, as it is for contacts (whose trigger does the same).
import { type RawBuilder, sql } from 'kysely';

/**
 * The new `updated_at` of an UPDATE that sets `changes` (undefined values are not set): now when
 * any column gets a different value, else the stored one. Column references in SET read the
 * row as it was before the update.
 */
export function updatedAtIfChanged(changes: Record<string, unknown>): RawBuilder<string> {
  const set = Object.entries(changes).filter(([, value]) => value !== undefined);
  if (set.length === 0) return sql<string>`updated_at`;
  const changed = sql.join(
    set.map(([column, value]) => sql`${sql.ref(column)} IS DISTINCT FROM ${value}`),
    sql` OR `,
  );
  return sql<string>`CASE WHEN ${changed} THEN clock_timestamp() ELSE updated_at END`;
}
