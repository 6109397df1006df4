// SQL for contacts. Every function takes the executor (pool or transaction) and the project id;
// every read hides contacts waiting for their erase job.
import { createHash } from 'node:crypto';
import { type Expression, type ExpressionBuilder, type Kysely, type RawBuilder, type SqlBool, sql, type Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import { keysetPage } from '../db/keyset.ts';
import type { Database } from '../db/schema.ts';
import type { EntityTag } from '../http/etag.ts';
import type { CursorRequest } from '../http/pagination.ts';
import type pg from 'pg';

type Executor = Kysely<Database> | Transaction<Database>;

const COLUMNS = [
  'id',
  'wa_id',
  'business_scoped_user_id',
  'parent_business_scoped_user_id',
  'username',
  'profile_name',
  'display_name',
  'customer_id',
  'metadata',
  'version',
  'created_at',
  'updated_at',
] as const;

export interface ContactRow {
  id: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  profile_name: string | null;
  display_name: string | null;
  customer_id: string | null;
  metadata: unknown;
  version: number;
  created_at: string;
  updated_at: string;
}

export type ContactLookup =
  | { by: 'id'; value: string }
  | { by: 'bsuid'; value: string }
  | { by: 'parent_bsuid'; value: string }
  | { by: 'wa_id'; value: string; alternative: string | null };

export interface ContactFilters {
  customerId?: string;
  customerExternalId?: string;
  hasCustomer?: boolean;
  profileNameContains?: string;
  waIdContains?: string;
  businessScopedUserId?: string;
  createdAfter?: string;
  createdBefore?: string;
  /** The contact's WhatsApp ID is one of these (a number and its Brazilian variant). */
  waIds?: string[];
  /**
   * Only contacts with a conversation (active or ended) on this business number (Meta's id):
   * what "the contacts of a number" means in Parley, which keeps contacts per project.
   */
  conversingWith?: string;
}

function visible(db: Executor, projectId: string) {
  return db.selectFrom('contacts').where('project_id', '=', projectId).where('erased_at', 'is', null);
}

function lookupQuery(db: Executor, projectId: string, lookup: ContactLookup) {
  const query = visible(db, projectId);
  switch (lookup.by) {
    case 'id':
      return query.where('id', '=', lookup.value);
    case 'bsuid':
      return query.where('business_scoped_user_id', '=', lookup.value);
    case 'parent_bsuid':
      return query.where('parent_business_scoped_user_id', '=', lookup.value).orderBy('created_at', 'desc').orderBy('id', 'desc');
    case 'wa_id':
      if (lookup.alternative === null) return query.where('wa_id', '=', lookup.value);
      // The exact form wins over the Brazilian 9th-digit variant.
      return query.where('wa_id', 'in', [lookup.value, lookup.alternative]).orderBy(sql`wa_id = ${lookup.value}`, 'desc');
  }
}

export async function findContact(db: Executor, projectId: string, lookup: ContactLookup): Promise<ContactRow | undefined> {
  return (await lookupQuery(db, projectId, lookup).select(COLUMNS).limit(1).executeTakeFirst()) as ContactRow | undefined;
}

export interface NewContact {
  wa_id: string;
  profile_name: string | null;
  display_name: string | null;
  customer_id: string | null;
  metadata: string | null;
  business_scoped_user_id?: string | null;
  parent_business_scoped_user_id?: string | null;
  username?: string | null;
}

export async function insertContact(db: Executor, projectId: string, contact: NewContact): Promise<ContactRow> {
  return (await db
    .insertInto('contacts')
    .values({ project_id: projectId, ...contact })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow()) as ContactRow;
}

export interface ContactChanges {
  wa_id?: string;
  profile_name?: string | null;
  display_name?: string | null;
  customer_id?: string | null;
  /** Serialized JSON, or null to clear. */
  metadata?: string | null;
}

/** Hides the contact from every endpoint at once; the erase job deletes it later. */
export async function markErased(db: Executor, projectId: string, lookup: ContactLookup, ifMatch: EntityTag[] | null): Promise<boolean> {
  let query = db
    .updateTable('contacts')
    .set({ erased_at: sql`clock_timestamp()` })
    .where('project_id', '=', projectId)
    .where('id', '=', lookupQuery(db, projectId, lookup).select('id').limit(1))
    .where('erased_at', 'is', null);
  if (ifMatch !== null) query = query.where(matchesTags(ifMatch));
  const result = await query.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Removes an erased contact for good; rows attached to it go with it (foreign keys cascade). */
export async function deleteErasedContact(db: Kysely<Database>, id: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    // Webhook deliveries keep copies of the contact's messages for the deliveries log; they go
    // too. Conversations, messages and preferences follow the contact by foreign key.
    await sql`DELETE FROM webhook_deliveries WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ${id})`.execute(tx);
    await tx.deleteFrom('contacts').where('id', '=', id).where('erased_at', 'is not', null).execute();
  });
}

function matchesTags(tags: EntityTag[]) {
  if (tags.length === 0) return sql<SqlBool>`false`;
  return sql<SqlBool>`(id, version) IN (${sql.join(tags.map((t) => sql`(${t.id}::uuid, ${t.version}::int)`))})`;
}

function filterConditions(filters: ContactFilters) {
  return (eb: ExpressionBuilder<Database, 'contacts'>) => {
    const conditions: Expression<SqlBool>[] = [];
    if (filters.customerId !== undefined) conditions.push(eb('customer_id', '=', filters.customerId));
    if (filters.customerExternalId !== undefined) {
      conditions.push(
        eb('customer_id', 'in', eb.selectFrom('customers').select('customers.id').where('customers.project_id', '=', eb.ref('contacts.project_id')).where('customers.external_customer_id', '=', filters.customerExternalId)),
      );
    }
    if (filters.hasCustomer !== undefined) conditions.push(eb('customer_id', filters.hasCustomer ? 'is not' : 'is', null));
    if (filters.profileNameContains !== undefined) conditions.push(eb('profile_name', 'ilike', containsPattern(filters.profileNameContains)));
    if (filters.waIdContains !== undefined) conditions.push(eb('wa_id', 'like', containsPattern(filters.waIdContains)));
    if (filters.businessScopedUserId !== undefined) conditions.push(eb('business_scoped_user_id', '=', filters.businessScopedUserId));
    if (filters.createdAfter !== undefined) conditions.push(eb('created_at', '>', filters.createdAfter));
    if (filters.createdBefore !== undefined) conditions.push(eb('created_at', '<', filters.createdBefore));
    if (filters.waIds !== undefined) conditions.push(eb('wa_id', 'in', filters.waIds));
    if (filters.conversingWith !== undefined) conditions.push(eb.exists(conversationOnNumber(eb, filters.conversingWith)));
    return eb.and(conditions);
  };
}

/** A conversation of the contact in the outer query on the business number (probed by conversations_contact_idx). */
function conversationOnNumber(eb: ExpressionBuilder<Database, 'contacts'>, phoneNumberId: string) {
  return eb
    .selectFrom('conversations')
    .select(sql`1`.as('one'))
    .whereRef('conversations.contact_id', '=', 'contacts.id')
    .where('conversations.project_id', '=', eb.ref('contacts.project_id'))
    .where('conversations.phone_number_id', '=', phoneNumberId);
}

/** Whether the contact has a conversation (active or ended) on the business number (Meta's id). */
export async function hasConversationOn(db: Executor, projectId: string, contactId: string, phoneNumberId: string): Promise<boolean> {
  const row = await db
    .selectFrom('conversations')
    .select('id')
    .where('project_id', '=', projectId)
    .where('contact_id', '=', contactId)
    .where('phone_number_id', '=', phoneNumberId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** How many of the newest rows a substring search reads before it turns to the trigram index. */
const NEWEST_WALK = 5000;
/** Matches within the first walk from which a term counts as common: it is walked further instead. */
const COMMON_MATCHES = 10;
/** The longest second walk, in rows. */
const LONGEST_WALK = 20_000;

const walkNames = new Map<string, string>();

/** One name per statement text (the filters decide the text, so there are few). */
function walkStatementName(text: string): string {
  let name = walkNames.get(text);
  if (name === undefined) {
    name = `parley_contact_walk_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    if (walkNames.size < 1000) walkNames.set(text, name);
  }
  return name;
}

/**
 * One page in keyset order, fetching one extra row to tell whether more follow.
 *
 * With a substring filter the planner must choose between walking the newest rows and filtering
 * (fast for common terms, a full walk for rare ones) and the trigram index (fast for rare terms,
 * a sort of every match for common ones), and its estimate for '%term%' is a guess. So it is not
 * left to guess: the newest rows are read first, but only so many; a term that fills the page
 * there is common and done. A term that nearly filled it (COMMON_MATCHES or more) has thousands
 * of matches in a large table, each a heap fetch through the trigram index: walking on costs less,
 * so a longer walk sized from the matches seen (twice the rows expected to fill the page) comes
 * next. Otherwise the term is rare, and the page is read through the trigram index (the other
 * plans switched off for that one transaction).
 */
export async function listContactsByCursor(db: Kysely<Database>, projectId: string, filters: ContactFilters, page: CursorRequest, pool?: pg.Pool): Promise<ContactRow[]> {
  const term = filters.profileNameContains ?? filters.waIdContains;
  if (term === undefined || term.length < 3) return (await pageQuery(db, projectId, filters, page).execute()) as ContactRow[];
  const others: ContactFilters = { ...filters, profileNameContains: undefined, waIdContains: undefined };
  const direction = page.before ? sql`ASC` : sql`DESC`;
  const substring: RawBuilder<SqlBool>[] = [];
  if (filters.profileNameContains !== undefined) substring.push(sql<SqlBool>`profile_name ILIKE ${containsPattern(filters.profileNameContains)}`);
  if (filters.waIdContains !== undefined) substring.push(sql<SqlBool>`wa_id LIKE ${containsPattern(filters.waIdContains)}`);
  const walk = async (rows: number) => {
    const newest = pageQuery(db, projectId, others, page).clearLimit().limit(rows);
    const query = sql<ContactRow>`
    SELECT * FROM (${newest}) AS recent WHERE ${sql.join(substring, sql` AND `)}
    ORDER BY created_at ${direction}, id ${direction} LIMIT ${page.limit + 1}`;
    if (!pool) return (await query.execute(db)).rows;
    // A named statement: its plan (always the list index) is kept per connection instead of
    // planned on every search, which costs more than a millisecond with a LIKE filter.
    const compiled = query.compile(db);
    return (await pool.query<ContactRow>({ name: walkStatementName(compiled.sql), text: compiled.sql, values: compiled.parameters as unknown[] })).rows;
  };
  const first = await walk(NEWEST_WALK);
  if (first.length > page.limit) return first;
  if (first.length >= COMMON_MATCHES) {
    const longer = await walk(Math.min(LONGEST_WALK, Math.ceil((NEWEST_WALK * 2 * (page.limit + 1)) / first.length)));
    if (longer.length > page.limit) return longer;
  }
  return db.transaction().execute(async (tx) => {
    // One round trip for both settings (SET LOCAL takes one per statement).
    await sql`SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)`.execute(tx);
    return (await pageQuery(tx, projectId, filters, page).execute()) as ContactRow[];
  });
}

function pageQuery(db: Executor, projectId: string, filters: ContactFilters, page: CursorRequest) {
  return keysetPage(visible(db, projectId).select(COLUMNS).where(filterConditions(filters)), page, { time: 'created_at', id: 'id' });
}

export async function listContactsByOffset(db: Executor, projectId: string, filters: ContactFilters, offset: number, limit: number) {
  const [rows, count] = await Promise.all([
    visible(db, projectId).select(COLUMNS).where(filterConditions(filters)).orderBy('created_at', 'desc').orderBy('id', 'desc').offset(offset).limit(limit).execute(),
    visible(db, projectId).select((eb) => eb.fn.countAll<number>().as('n')).where(filterConditions(filters)).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as ContactRow[], total: Number(count.n) };
}

/** Visible contacts by id, whatever their project (callers check it): for rendering in bulk. */
export async function findContactsByIds(db: Executor, ids: string[]): Promise<(ContactRow & { project_id: string })[]> {
  if (ids.length === 0) return [];
  return (await db
    .selectFrom('contacts')
    .select([...COLUMNS, 'project_id'])
    .where('id', 'in', ids)
    .where('erased_at', 'is', null)
    .execute()) as (ContactRow & { project_id: string })[];
}
