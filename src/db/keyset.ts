// Keyset pagination in SQL: the rows after (or before) a cursor in (timestamp, id) order, newest
// first, with one row more than the page to tell whether more follow. With `before` the rows come
// oldest-first; cursorPage (src/http/pagination.ts) turns them around.
import { type SelectQueryBuilder, type SqlBool, sql } from 'kysely';

/**
 * A position in a list sorted by (timestamp column, id), both as they appear on the wire. The
 * column is `created_at` for most lists (`last_active_at` for conversations).
 */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

export interface CursorRequest {
  limit: number;
  after: CursorPosition | null;
  before: CursorPosition | null;
}

export function keysetPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  page: CursorRequest,
  columns: { time: string; id: string },
): SelectQueryBuilder<DB, TB, O> {
  const row = sql`(${sql.ref(columns.time)}, ${sql.ref(columns.id)})`;
  if (page.before) {
    query = query
      .where(sql<SqlBool>`${row} > (${page.before.createdAt}::timestamptz, ${page.before.id}::uuid)`)
      .orderBy(sql.ref(columns.time), 'asc')
      .orderBy(sql.ref(columns.id), 'asc');
  } else {
    if (page.after) query = query.where(sql<SqlBool>`${row} < (${page.after.createdAt}::timestamptz, ${page.after.id}::uuid)`);
    query = query.orderBy(sql.ref(columns.time), 'desc').orderBy(sql.ref(columns.id), 'desc');
  }
  return query.limit(page.limit + 1);
}
