// The rules of the customers API: unique external ids per project, and deletes that keep the
// customer's contacts (the foreign key clears their customer_id).
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import { pgErrorCode, pgErrorConstraint } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { notFound, unprocessable } from '../http/errors.ts';
import type { OffsetRequest } from '../http/pagination.ts';
import * as repo from './repo.ts';
import type { CreateCustomerBody, Customer, ListCustomersQuery, UpdateCustomerBody } from './schemas.ts';
import { UUID } from '../http/uuid.ts';

const CUSTOMER_NOT_FOUND = 'Customer not found';

/** A path id that is not a UUID cannot name a customer: 404, like any unknown id. */
function checkId(id: string): string {
  if (!UUID.test(id)) throw notFound(CUSTOMER_NOT_FOUND);
  return id.toLowerCase();
}

export function toCustomer(row: repo.CustomerRow): Customer {
  return { ...row, created_at: isoMicros(row.created_at), updated_at: isoMicros(row.updated_at) };
}

function translateWriteError(error: unknown, externalId: string | null | undefined): never {
  if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'customers_external_id_key') {
    throw unprocessable(`customer.external_customer_id ${externalId} is already used by another customer`);
  }
  throw error;
}

function checkText(field: string, value: string | null | undefined): void {
  if (field === 'name' && typeof value === 'string' && value.trim() === '') throw unprocessable('customer.name must not be blank');
}

export class CustomersService {
  constructor(private readonly db: Kysely<Database>) {}

  async create(projectId: string, body: CreateCustomerBody): Promise<Customer> {
    const { name, external_customer_id = null } = body.customer;
    checkText('name', name);
    checkText('external_customer_id', external_customer_id);
    try {
      return toCustomer(await repo.insertCustomer(this.db, projectId, { name, external_customer_id }));
    } catch (error) {
      translateWriteError(error, external_customer_id);
    }
  }

  async get(projectId: string, id: string): Promise<Customer> {
    const row = await repo.findCustomer(this.db, projectId, checkId(id));
    if (!row) throw notFound(CUSTOMER_NOT_FOUND);
    return toCustomer(row);
  }

  async update(projectId: string, id: string, body: UpdateCustomerBody): Promise<Customer> {
    checkText('name', body.customer.name);
    checkText('external_customer_id', body.customer.external_customer_id);
    let row: repo.CustomerRow | undefined;
    try {
      row = await repo.updateCustomer(this.db, projectId, checkId(id), body.customer);
    } catch (error) {
      translateWriteError(error, body.customer.external_customer_id);
    }
    if (!row) throw notFound(CUSTOMER_NOT_FOUND);
    return toCustomer(row);
  }

  async delete(projectId: string, id: string): Promise<void> {
    if (!(await repo.deleteCustomer(this.db, projectId, checkId(id)))) throw notFound(CUSTOMER_NOT_FOUND);
  }

  async list(projectId: string, query: ListCustomersQuery, offset: OffsetRequest) {
    const { rows, total } = await repo.listCustomers(
      this.db,
      projectId,
      { nameContains: query.name_contains, externalCustomerId: query.external_customer_id, createdAfter: query.created_after, createdBefore: query.created_before },
      (offset.page - 1) * offset.perPage,
      offset.perPage,
    );
    return { rows: rows.map(toCustomer), total };
  }
}
