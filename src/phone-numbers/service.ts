// The rules of the phone numbers API: one connection per Meta number across all projects,
// tokens sealed before they reach the database, deletes that keep history readable.
import type { Kysely } from 'kysely';
import { isoMicros } from '../db/connection.ts';
import { pgErrorCode, pgErrorConstraint } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { conflict, notFound, unprocessable } from '../http/errors.ts';
import type { OffsetRequest } from '../http/pagination.ts';
import * as repo from './repo.ts';
import type { CreatePhoneNumberBody, ListPhoneNumbersQuery, PhoneNumber, UpdatePhoneNumberBody } from './schemas.ts';
import type { TokenCipher } from './token-cipher.ts';
import { UUID } from '../http/uuid.ts';

const NOT_FOUND = 'Phone number not found';

export function toPhoneNumber(row: repo.PhoneNumberRow): PhoneNumber {
  return {
    id: row.phone_number_id,
    internal_id: row.internal_id,
    phone_number_id: row.phone_number_id,
    name: row.name,
    kind: row.kind,
    business_account_id: row.business_account_id,
    customer_id: row.customer_id,
    display_phone_number: row.display_phone_number,
    display_phone_number_normalized: row.display_phone_number === null ? null : row.display_phone_number.replace(/\D/g, '') || null,
    verified_name: row.verified_name,
    inbound_processing_enabled: row.inbound_processing_enabled,
    calls_enabled: row.calls_enabled,
    webhook_verified_at: row.webhook_verified_at === null ? null : isoMicros(row.webhook_verified_at),
    status: row.status,
    created_at: isoMicros(row.created_at),
    updated_at: isoMicros(row.updated_at),
  };
}

export class PhoneNumbersService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cipher: TokenCipher,
  ) {}

  async connect(projectId: string, customerId: string, body: CreatePhoneNumberBody): Promise<PhoneNumber> {
    if (!UUID.test(customerId)) throw notFound('Customer not found');
    const { access_token, ...input } = body.whatsapp_phone_number;
    const customer = await this.db.selectFrom('customers').select('id').where('project_id', '=', projectId).where('id', '=', customerId.toLowerCase()).executeTakeFirst();
    if (!customer) throw notFound('Customer not found');
    try {
      const row = await repo.insertPhoneNumber(this.db, projectId, {
        ...input,
        kind: input.kind as 'production' | 'sandbox' | undefined,
        customer_id: customer.id,
        access_token_sealed: this.cipher.seal(access_token),
      });
      return toPhoneNumber(row);
    } catch (error) {
      if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'phone_numbers_connected_key') {
        throw conflict(`Phone number ${input.phone_number_id} is already connected`);
      }
      if (pgErrorCode(error) === '23503') throw notFound('Customer not found');
      throw error;
    }
  }

  async get(projectId: string, phoneNumberId: string): Promise<PhoneNumber> {
    const row = await repo.findPhoneNumber(this.db, projectId, phoneNumberId);
    if (!row) throw notFound(NOT_FOUND);
    return toPhoneNumber(row);
  }

  async update(projectId: string, phoneNumberId: string, body: UpdatePhoneNumberBody): Promise<PhoneNumber> {
    const { access_token, ...input } = body.whatsapp_phone_number;
    const row = await this.db.transaction().execute(async (tx) => {
      // Sealing is randomised, so the same token sealed again differs: compare the plain text,
      // and leave the row (and updated_at) alone when the token is the one already stored.
      const stored = access_token === undefined ? undefined : await repo.lockSealedToken(tx, projectId, phoneNumberId);
      const rotate = access_token !== undefined && (stored === undefined || !this.holds(stored, access_token));
      return repo.updatePhoneNumber(tx, projectId, phoneNumberId, {
        ...input,
        kind: input.kind as 'production' | 'sandbox' | undefined,
        ...(rotate ? { access_token_sealed: this.cipher.seal(access_token) } : {}),
      });
    });
    if (!row) throw notFound(NOT_FOUND);
    return toPhoneNumber(row);
  }

  /** Whether `sealed` holds `token` (false when it cannot be opened, e.g. sealed under another key). */
  private holds(sealed: Buffer, token: string): boolean {
    try {
      return this.cipher.open(sealed) === token;
    } catch {
      return false;
    }
  }

  async delete(projectId: string, phoneNumberId: string): Promise<void> {
    if (!(await repo.markDeleted(this.db, projectId, phoneNumberId))) throw notFound(NOT_FOUND);
  }

  async list(projectId: string, query: ListPhoneNumbersQuery, offset: OffsetRequest) {
    const { rows, total } = await repo.listPhoneNumbers(
      this.db,
      projectId,
      {
        phoneNumberId: query.phone_number_id,
        businessAccountId: query.business_account_id,
        customerId: query.customer_id,
        nameContains: query.name_contains,
        createdAfter: query.created_after,
        createdBefore: query.created_before,
      },
      (offset.page - 1) * offset.perPage,
      offset.perPage,
    );
    return { rows: rows.map(toPhoneNumber), total };
  }
}
