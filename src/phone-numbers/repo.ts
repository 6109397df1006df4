// SQL for phone numbers. Reads see connected numbers only (deleted_at IS NULL), except the
// routing lookup of inbound events, which must also know numbers that were disconnected.
import { type Kysely, sql, type Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import type { Database } from '../db/schema.ts';
import { updatedAtIfChanged } from '../db/updated-at.ts';
import { NumberCache } from './number-cache.ts';

type Executor = Kysely<Database> | Transaction<Database>;

const COLUMNS = [
  'internal_id',
  'project_id',
  'customer_id',
  'phone_number_id',
  'name',
  'kind',
  'business_account_id',
  'webhook_verify_token',
  'inbound_processing_enabled',
  'calls_enabled',
  'display_phone_number',
  'verified_name',
  'status',
  'webhook_verified_at',
  'created_at',
  'updated_at',
] as const;

export interface PhoneNumberRow {
  internal_id: string;
  project_id: string;
  customer_id: string | null;
  phone_number_id: string;
  name: string;
  kind: 'production' | 'sandbox';
  business_account_id: string;
  webhook_verify_token: string | null;
  inbound_processing_enabled: boolean;
  calls_enabled: boolean;
  display_phone_number: string | null;
  verified_name: string | null;
  status: string;
  webhook_verified_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface NewPhoneNumber {
  customer_id: string;
  phone_number_id: string;
  name: string;
  kind?: 'production' | 'sandbox';
  business_account_id: string;
  access_token_sealed: Buffer;
  webhook_verify_token?: string | null;
  display_phone_number?: string | null;
  verified_name?: string | null;
  inbound_processing_enabled?: boolean;
  calls_enabled?: boolean;
}

export async function insertPhoneNumber(db: Executor, projectId: string, values: NewPhoneNumber): Promise<PhoneNumberRow> {
  proxyNumbers.forgetProject(projectId);
  return (await db.insertInto('phone_numbers').values({ project_id: projectId, ...values }).returning(COLUMNS).executeTakeFirstOrThrow()) as PhoneNumberRow;
}

export async function findPhoneNumber(db: Executor, projectId: string, phoneNumberId: string): Promise<PhoneNumberRow | undefined> {
  return (await db
    .selectFrom('phone_numbers')
    .select(COLUMNS)
    .where('project_id', '=', projectId)
    .where('phone_number_id', '=', phoneNumberId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()) as PhoneNumberRow | undefined;
}

/** The connected number with this Meta id, whatever its project: routes inbound events. */
export async function findConnectedByMetaId(db: Executor, phoneNumberId: string): Promise<PhoneNumberRow | undefined> {
  return (await db.selectFrom('phone_numbers').select(COLUMNS).where('phone_number_id', '=', phoneNumberId).where('deleted_at', 'is', null).executeTakeFirst()) as
    | PhoneNumberRow
    | undefined;
}

/** The connected numbers of a WABA, whatever their projects: routes Meta's WABA-level webhooks (templates). */
export async function findConnectedByWaba(db: Executor, businessAccountId: string): Promise<PhoneNumberRow[]> {
  return (await db
    .selectFrom('phone_numbers')
    .select(COLUMNS)
    .where('business_account_id', '=', businessAccountId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .execute()) as PhoneNumberRow[];
}

export type PhoneNumberChanges = Partial<Omit<NewPhoneNumber, 'customer_id' | 'phone_number_id' | 'business_account_id'>>;

export async function updatePhoneNumber(db: Executor, projectId: string, phoneNumberId: string, changes: PhoneNumberChanges): Promise<PhoneNumberRow | undefined> {
  const row = (await db
    .updateTable('phone_numbers')
    .set({ ...changes, updated_at: updatedAtIfChanged(changes) })
    .where('project_id', '=', projectId)
    .where('phone_number_id', '=', phoneNumberId)
    .where('deleted_at', 'is', null)
    .returning(COLUMNS)
    .executeTakeFirst()) as PhoneNumberRow | undefined;
  // After the write as well as the NOTIFY at commit: this node's next send reads the new row.
  proxyNumbers.forgetProject(projectId);
  return row;
}

/** The sealed access token of a connected number, its row locked until the transaction ends. */
export async function lockSealedToken(tx: Transaction<Database>, projectId: string, phoneNumberId: string): Promise<Buffer | undefined> {
  const row = await tx
    .selectFrom('phone_numbers')
    .select('access_token_sealed')
    .where('project_id', '=', projectId)
    .where('phone_number_id', '=', phoneNumberId)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
  return row?.access_token_sealed;
}

export async function markDeleted(db: Executor, projectId: string, phoneNumberId: string): Promise<boolean> {
  const result = await db
    .updateTable('phone_numbers')
    .set({ deleted_at: sql`clock_timestamp()`, updated_at: sql`clock_timestamp()` })
    .where('project_id', '=', projectId)
    .where('phone_number_id', '=', phoneNumberId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  proxyNumbers.forgetProject(projectId);
  return result.numUpdatedRows > 0n;
}

export interface PhoneNumberFilters {
  phoneNumberId?: string;
  businessAccountId?: string;
  customerId?: string;
  nameContains?: string;
  createdAfter?: string;
  createdBefore?: string;
}

export async function listPhoneNumbers(db: Executor, projectId: string, filters: PhoneNumberFilters, offset: number, limit: number) {
  const base = db
    .selectFrom('phone_numbers')
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .where((eb) => {
      const conditions = [];
      if (filters.phoneNumberId !== undefined) conditions.push(eb('phone_number_id', '=', filters.phoneNumberId));
      if (filters.businessAccountId !== undefined) conditions.push(eb('business_account_id', '=', filters.businessAccountId));
      if (filters.customerId !== undefined) conditions.push(eb('customer_id', '=', filters.customerId));
      if (filters.nameContains !== undefined) conditions.push(eb('name', 'ilike', containsPattern(filters.nameContains)));
      if (filters.createdAfter !== undefined) conditions.push(eb('created_at', '>', filters.createdAfter));
      if (filters.createdBefore !== undefined) conditions.push(eb('created_at', '<', filters.createdBefore));
      return eb.and(conditions);
    });
  const [rows, count] = await Promise.all([
    base.select(COLUMNS).orderBy('created_at', 'desc').orderBy('internal_id', 'desc').offset(offset).limit(limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as PhoneNumberRow[], total: Number(count.n) };
}

/** A number by Parley's id, connected or not: what webhook payloads about it describe. */
export async function findByInternalId(db: Executor, projectId: string, internalId: string): Promise<PhoneNumberRow | undefined> {
  return (await db.selectFrom('phone_numbers').select(COLUMNS).where('project_id', '=', projectId).where('internal_id', '=', internalId).executeTakeFirst()) as
    | PhoneNumberRow
    | undefined;
}

/** A connected number with its sealed token, for whatever calls Meta for it (opened only by src/meta-graph/). */
export interface PhoneNumberWithToken extends PhoneNumberRow {
  access_token_sealed: Buffer;
}

/**
 * The connected numbers of the project that an id in a proxy path names: the number whose Meta id
 * it is, else the numbers of the WABA whose id it is (newest first). One round trip either way.
 */
export async function findByMetaIdOrWaba(db: Executor, projectId: string, id: string): Promise<PhoneNumberWithToken[]> {
  return (await db
    .selectFrom('phone_numbers')
    .select([...COLUMNS, 'access_token_sealed'])
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('phone_number_id', '=', id), eb('business_account_id', '=', id)]))
    .orderBy(sql`phone_number_id = ${id}`, 'desc')
    .orderBy('updated_at', 'desc')
    .limit(20)
    .execute()) as PhoneNumberWithToken[];
}

/** What the proxy resolved lately, per node (see number-cache.ts); dropped on every write to phone_numbers. */
export const proxyNumbers = new NumberCache<PhoneNumberWithToken[]>();

/** findByMetaIdOrWaba through this node's cache: the send path's lookup, without a round trip when warm. */
export function findByMetaIdOrWabaCached(db: Executor, projectId: string, id: string): Promise<PhoneNumberWithToken[]> {
  return proxyNumbers.get(projectId, id, () => findByMetaIdOrWaba(db, projectId, id), (rows) => rows.length === 0);
}

/** A connected number of the project by Meta's id, with its sealed token (for the health check's Graph calls). */
export async function findWithToken(db: Executor, projectId: string, phoneNumberId: string): Promise<PhoneNumberWithToken | undefined> {
  return (await db
    .selectFrom('phone_numbers')
    .select([...COLUMNS, 'access_token_sealed'])
    .where('project_id', '=', projectId)
    .where('phone_number_id', '=', phoneNumberId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()) as PhoneNumberWithToken | undefined;
}
