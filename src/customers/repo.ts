// SQL for customers, always scoped to one project.
import type { Kysely, Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import type { Database } from '../db/schema.ts';
import { updatedAtIfChanged } from '../db/updated-at.ts';

type Executor = Kysely<Database> | Transaction<Database>;

const COLUMNS = ['id', 'name', 'external_customer_id', 'created_at', 'updated_at'] as const;

export interface CustomerRow {
  id: string;
  name: string;
  external_customer_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface CustomerFilters {
  nameContains?: string;
  externalCustomerId?: string;
  createdAfter?: string;
  createdBefore?: string;
}

export async function insertCustomer(db: Executor, projectId: string, values: { name: string; external_customer_id: string | null }): Promise<CustomerRow> {
  return db.insertInto('customers').values({ project_id: projectId, ...values }).returning(COLUMNS).executeTakeFirstOrThrow();
}

export async function findCustomer(db: Executor, projectId: string, id: string): Promise<CustomerRow | undefined> {
  return db.selectFrom('customers').select(COLUMNS).where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
}

export async function updateCustomer(db: Executor, projectId: string, id: string, changes: { name?: string; external_customer_id?: string | null }): Promise<CustomerRow | undefined> {
  return db
    .updateTable('customers')
    .set({ ...changes, updated_at: updatedAtIfChanged(changes) })
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .returning(COLUMNS)
    .executeTakeFirst();
}

export async function deleteCustomer(db: Executor, projectId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('customers').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function listCustomers(db: Executor, projectId: string, filters: CustomerFilters, offset: number, limit: number) {
  const base = db
    .selectFrom('customers')
    .where('project_id', '=', projectId)
    .where((eb) => {
      const conditions = [];
      if (filters.nameContains !== undefined) conditions.push(eb('name', 'ilike', containsPattern(filters.nameContains)));
      if (filters.externalCustomerId !== undefined) conditions.push(eb('external_customer_id', '=', filters.externalCustomerId));
      if (filters.createdAfter !== undefined) conditions.push(eb('created_at', '>', filters.createdAfter));
      if (filters.createdBefore !== undefined) conditions.push(eb('created_at', '<', filters.createdBefore));
      return eb.and(conditions);
    });
  const [rows, count] = await Promise.all([
    base.select(COLUMNS).orderBy('created_at', 'desc').orderBy('id', 'desc').offset(offset).limit(limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}
