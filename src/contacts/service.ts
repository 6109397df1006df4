// The rules of the contacts API: identifier resolution, phone normalisation, metadata
// semantics and limits, conditional requests, and erasure.
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { isoMicros } from '../db/connection.ts';
import { pgErrorCode, pgErrorConstraint } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { etagFor, type EntityTag } from '../http/etag.ts';
import { ApiError, badRequest, notFound, preconditionFailed, unprocessable } from '../http/errors.ts';
import { cursorPage, type CursorRequest, type OffsetRequest } from '../http/pagination.ts';
import { enqueueJob } from '../jobs/repo.ts';
import { brazilianVariant, normalisePhone, storedFormsOf } from './phone.ts';
import * as prepared from './prepared.ts';
import * as repo from './repo.ts';
import type { ContactLookup, ContactRow } from './repo.ts';
import { type Contact, type CreateContactBody, type ListContactsQuery, METADATA_MAX_BYTES, METADATA_MAX_DEPTH, READ_ONLY_FIELDS, type UpdateContactBody } from './schemas.ts';
import { UUID } from '../http/uuid.ts';

export const ERASE_JOB = 'contact.erase';
const CONTACT_NOT_FOUND = 'Contact not found';
const PARENT_BSUID = /^[A-Z]{2}\.ENT\.[A-Za-z0-9]+$/;
const BSUID = /^[A-Z]{2}\.[A-Za-z0-9]+$/;

export const OFFSET_LIMITS = { maxPage: 50, maxPerPage: 100, maxWindow: 5000 };

/** What an `{identifier}` path segment names, tried by shape; null when it cannot name a contact. */
export function parseIdentifier(identifier: string): ContactLookup | null {
  if (UUID.test(identifier)) return { by: 'id', value: identifier.toLowerCase() };
  if (PARENT_BSUID.test(identifier)) return { by: 'parent_bsuid', value: identifier };
  if (BSUID.test(identifier)) return { by: 'bsuid', value: identifier };
  const waId = normalisePhone(identifier);
  if (waId === null) return null;
  return { by: 'wa_id', value: waId, alternative: brazilianVariant(waId) };
}

/**
 * A number written as plain digits (optionally after `+`) read as the stored WhatsApp ID itself,
 * without phone parsing: what API clients send nearly always. null for any other shape.
 */
function plainDigitsLookup(identifier: string): ContactLookup | null {
  const match = /^\+?(\d{7,15})$/.exec(identifier);
  return match ? { by: 'wa_id', value: match[1]!, alternative: brazilianVariant(match[1]!) } : null;
}

export function toContact(row: ContactRow): Contact {
  return {
    id: row.id,
    wa_id: row.wa_id,
    business_scoped_user_id: row.business_scoped_user_id,
    parent_business_scoped_user_id: row.parent_business_scoped_user_id,
    username: row.username,
    profile_name: row.profile_name,
    display_name: row.display_name,
    customer_id: row.customer_id,
    metadata: row.metadata as Record<string, unknown> | null,
    created_at: isoMicros(row.created_at),
    updated_at: isoMicros(row.updated_at),
  };
}

export interface ContactWithTag {
  contact: Contact;
  etag: string;
}

const withTag = (row: ContactRow): ContactWithTag => ({ contact: toContact(row), etag: etagFor(row.id, row.version) });

/** Nesting depth (`{}` is 1), counted with an explicit stack: a body nested 100 000 levels deep must not overflow the call stack. */
function measure(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    max = Math.max(max, depth);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return max;
}

/** A lone-surrogate escape in JSON text, not preceded by an escaped backslash (NUL is refused for every request in src/http/nul-character.ts). */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(d[89a-f][0-9a-f]{2})/;

/** A number that would change silently on the way to storage (1e400 → null, 2^60 + 1 → 2^60). */
function hasUnsafeNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'number' && (!Number.isFinite(node) || (Number.isInteger(node) && !Number.isSafeInteger(node)))) return true;
    if (node !== null && typeof node === 'object') stack.push(...(Array.isArray(node) ? node : Object.values(node)));
  }
  return false;
}

/** Serialises metadata for storage after checking the limits; undefined stays undefined. */
function checkedMetadata(metadata: Record<string, unknown> | null | undefined): string | null | undefined {
  if (metadata === undefined || metadata === null) return metadata;
  // Depth first: JSON.stringify recurses, and throws RangeError on very deep values.
  const depth = measure(metadata);
  if (depth > METADATA_MAX_DEPTH) throw unprocessable(`contact.metadata is nested ${depth} levels deep; the limit is ${METADATA_MAX_DEPTH} levels`);
  if (hasUnsafeNumber(metadata)) {
    throw unprocessable('contact.metadata holds a number JSON cannot carry exactly (not finite, or an integer beyond ±2^53); send it as a string');
  }
  const json = JSON.stringify(metadata);
  const bytes = Buffer.byteLength(json);
  if (bytes > METADATA_MAX_BYTES) throw unprocessable(`contact.metadata is ${bytes} bytes as JSON; the limit is ${METADATA_MAX_BYTES} bytes`);
  // PostgreSQL's jsonb cannot hold an unpaired surrogate (JSON.stringify writes it as a \uXXXX
  // escape); say so instead of failing in the database.
  if (UNSTORABLE_ESCAPE.test(json)) throw unprocessable('contact.metadata must not contain unpaired UTF-16 surrogates (text that is not valid Unicode)');
  return json;
}

function checkedWaId(raw: string): string {
  const waId = normalisePhone(raw);
  if (waId === null) throw unprocessable('contact.wa_id is not a possible phone number with a country code');
  return waId;
}

/** Database errors that are the client's fault, as the 422 that names the field. */
function translateWriteError(error: unknown, waId: string | undefined): never {
  const code = pgErrorCode(error);
  if (code === '23505' && pgErrorConstraint(error) === 'contacts_wa_id_key') {
    throw unprocessable(`contact.wa_id ${waId ?? ''} already belongs to another contact`.replace('  ', ' '));
  }
  if (code === '23503' && pgErrorConstraint(error)?.includes('customer')) {
    throw unprocessable('contact.customer_id does not name a customer of this project');
  }
  if (code === 'PRL01') throw unprocessable((error as Error).message);
  throw error;
}

/** Whether a timestamp sent back names the stored instant to the microsecond. */
function sameInstant(given: string, stored: string): boolean {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$/.exec(given);
  return match !== null && `${match[1]}.${(match[2] ?? '').padEnd(6, '0')}Z` === stored;
}

/** Filters of a business number's contacts (the proxy's `GET {pnid}/contacts`). */
export interface NumberContactFilters {
  /** The contact's number in any common written form with its country code; matched exactly. */
  waId?: string;
  customerId?: string;
  hasCustomer?: boolean;
}

/** What the proxy's `PATCH {pnid}/contacts/{wa_id}` may change. */
export type NumberContactChanges = Pick<UpdateContactBody['contact'], 'profile_name' | 'display_name' | 'metadata'>;

export class ContactsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly pool: pg.Pool,
  ) {}

  /**
   * Runs `attempt` for the identifier, cheapest reading first: plain digits are tried as the
   * stored WhatsApp ID; only when that finds nothing is the identifier parsed in full (phone
   * normalisation) and tried again. Returns the last lookup tried (null: not an identifier).
   */
  private async withLookup<T>(identifier: string, attempt: (lookup: ContactLookup) => Promise<T | undefined>): Promise<{ result: T | undefined; lookup: ContactLookup | null }> {
    const quick = plainDigitsLookup(identifier);
    if (quick) {
      const result = await attempt(quick);
      if (result !== undefined) return { result, lookup: quick };
    }
    const full = parseIdentifier(identifier);
    if (!full || (quick && full.by === 'wa_id' && full.value === quick.value)) return { result: undefined, lookup: full };
    return { result: await attempt(full), lookup: full };
  }

  async get(projectId: string, identifier: string): Promise<ContactWithTag> {
    const { result } = await this.withLookup(identifier, (lookup) => prepared.run(this.pool, prepared.selectContactStatement(projectId, lookup)));
    if (!result) throw notFound(CONTACT_NOT_FOUND);
    return withTag(result);
  }

  /** `db`: the transaction to write in (the Idempotency-Key record commits with the contact). */
  async create(projectId: string, body: CreateContactBody, db: Kysely<Database> = this.db): Promise<ContactWithTag> {
    const input = body.contact;
    const waId = checkedWaId(input.wa_id);
    const values = {
      wa_id: waId,
      profile_name: input.profile_name ?? null,
      display_name: input.display_name ?? null,
      customer_id: input.customer_id ?? null,
      metadata: checkedMetadata(input.metadata) ?? null,
    };
    try {
      return withTag(await repo.insertContact(db, projectId, values));
    } catch (error) {
      translateWriteError(error, waId);
    }
  }

  async update(projectId: string, identifier: string, body: UpdateContactBody, options: { merge: boolean; ifMatch: EntityTag[] | null }): Promise<ContactWithTag> {
    const input = body.contact;
    await this.checkReadOnlyFields(projectId, identifier, input);
    const changes: repo.ContactChanges = {
      wa_id: input.wa_id === undefined ? undefined : checkedWaId(input.wa_id),
      profile_name: input.profile_name,
      display_name: input.display_name,
      customer_id: input.customer_id,
      metadata: checkedMetadata(input.metadata),
    };
    const statementOptions = { mergeMetadata: options.merge, ifMatch: options.ifMatch, metadataLimits: { bytes: METADATA_MAX_BYTES, depth: METADATA_MAX_DEPTH } };
    let outcome: { result: ContactRow | undefined; lookup: ContactLookup | null };
    try {
      outcome = await this.withLookup(identifier, (lookup) => prepared.run(this.pool, prepared.updateContactStatement(projectId, lookup, changes, statementOptions)));
    } catch (error) {
      translateWriteError(error, changes.wa_id);
    }
    if (outcome.result) return withTag(outcome.result);
    if (!outcome.lookup) throw notFound(CONTACT_NOT_FOUND);
    throw await this.missOrConflict(projectId, outcome.lookup, options.ifMatch);
  }

  /** Hides the contact now and queues the job that erases it, in one transaction. */
  async erase(projectId: string, identifier: string, ifMatch: EntityTag[] | null): Promise<void> {
    // Found the way GET finds it (stored digits first); 422 only for what cannot be an identifier.
    const { result: found, lookup } = await this.withLookup(identifier, (l) => repo.findContact(this.db, projectId, l));
    if (!found && !lookup) throw unprocessable('Invalid phone number');
    if (!found || !lookup) throw notFound(CONTACT_NOT_FOUND);
    const erasedId = await this.db.transaction().execute(async (tx) => {
      const row = await repo.findContact(tx, projectId, { by: 'id', value: found.id });
      if (!row) return null;
      const marked = await repo.markErased(tx, projectId, { by: 'id', value: row.id }, ifMatch);
      if (!marked) return undefined;
      await enqueueJob(tx, ERASE_JOB, { contact_id: row.id });
      return row.id;
    });
    if (erasedId === null) throw notFound(CONTACT_NOT_FOUND);
    if (erasedId === undefined) throw await this.missOrConflict(projectId, lookup, ifMatch);
  }

  async listByCursor(projectId: string, query: ListContactsQuery, cursor: CursorRequest) {
    const rows = await repo.listContactsByCursor(this.db, projectId, this.filters(query), cursor, this.pool);
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map(toContact), paging: page.paging };
  }

  async listByOffset(projectId: string, query: ListContactsQuery, offset: OffsetRequest) {
    const { rows, total } = await repo.listContactsByOffset(this.db, projectId, this.filters(query), (offset.page - 1) * offset.perPage, offset.perPage);
    return { rows: rows.map(toContact), total };
  }

  /** The contacts with a conversation on one business number (Meta's id), newest first. */
  async listOfNumber(projectId: string, phoneNumberId: string, filters: NumberContactFilters, cursor: CursorRequest) {
    let waIds: string[] | undefined;
    if (filters.waId !== undefined) {
      waIds = storedFormsOf(filters.waId) ?? undefined;
      if (waIds === undefined) throw badRequest('wa_id is not a phone number with its country code');
    }
    const rows = await repo.listContactsByCursor(
      this.db,
      projectId,
      { conversingWith: phoneNumberId, waIds, customerId: filters.customerId?.toLowerCase(), hasCustomer: filters.hasCustomer },
      cursor,
    );
    const page = cursorPage(rows, cursor, (row) => ({ createdAt: isoMicros(row.created_at), id: row.id }));
    return { data: page.data.map(toContact), paging: page.paging };
  }

  /** A contact named as GET /contacts/{identifier} names it, found only when it has a conversation on the number. */
  async getOfNumber(projectId: string, phoneNumberId: string, identifier: string): Promise<Contact> {
    const { contact } = await this.get(projectId, identifier);
    if (!(await repo.hasConversationOn(this.db, projectId, contact.id, phoneNumberId))) throw notFound(CONTACT_NOT_FOUND);
    return contact;
  }

  /** Changes a contact of the number; metadata replaces the stored object, as a JSON PATCH does. */
  async updateOfNumber(projectId: string, phoneNumberId: string, identifier: string, changes: NumberContactChanges): Promise<Contact> {
    const found = await this.getOfNumber(projectId, phoneNumberId, identifier);
    const { contact } = await this.update(projectId, found.id, { contact: changes }, { merge: false, ifMatch: null });
    return contact;
  }

  private filters(query: ListContactsQuery): repo.ContactFilters {
    let waIdContains: string | undefined;
    if (query.wa_id_contains !== undefined) {
      waIdContains = query.wa_id_contains.replace(/[\s+().-]/g, '');
      if (!/^\d+$/.test(waIdContains)) throw unprocessable('wa_id_contains must contain only digits (spaces, +, -, dots and brackets are ignored)');
    }
    return {
      customerId: query.customer_id,
      customerExternalId: query.customer_external_id,
      hasCustomer: query.has_customer,
      profileNameContains: query.profile_name_contains,
      waIdContains,
      businessScopedUserId: query.business_scoped_user_id,
      createdAfter: query.created_after,
      createdBefore: query.created_before,
    };
  }

  /** After a conditional write touched nothing: 404 when the contact is gone, else 412. */
  private async missOrConflict(projectId: string, lookup: ContactLookup, ifMatch: EntityTag[] | null): Promise<ApiError> {
    const current = await repo.findContact(this.db, projectId, lookup);
    if (!current || ifMatch === null) return notFound(CONTACT_NOT_FOUND);
    return preconditionFailed();
  }

  /** Read-only fields may be sent back as they are; a different value is an error, not a no-op. */
  private async checkReadOnlyFields(projectId: string, identifier: string, input: UpdateContactBody['contact']): Promise<void> {
    const sent = READ_ONLY_FIELDS.filter((field) => input[field] !== undefined);
    if (sent.length === 0) return;
    const { result: row } = await this.withLookup(identifier, (lookup) => repo.findContact(this.db, projectId, lookup));
    if (!row) throw notFound(CONTACT_NOT_FOUND);
    const current = toContact(row);
    for (const field of sent) {
      const value = input[field];
      const stored = current[field];
      const same =
        value === stored ||
        ((field === 'created_at' || field === 'updated_at') && typeof value === 'string' && sameInstant(value, stored as string)) ||
        (field === 'id' && typeof value === 'string' && value.toLowerCase() === stored);
      if (!same) throw unprocessable(`contact.${field} is read-only`);
    }
  }
}

export function offsetLimitError(offset: OffsetRequest, baseUrl: string): ApiError | null {
  const { maxPage, maxPerPage, maxWindow } = OFFSET_LIMITS;
  const window = offset.page * offset.perPage;
  let detail: string | null = null;
  if (offset.page > maxPage) {
    detail = `Page ${offset.page} exceeds the maximum supported legacy offset page (${maxPage}). Use cursor pagination with limit, after, and before.`;
  } else if (offset.perPage > maxPerPage) {
    detail = `Per page ${offset.perPage} exceeds the maximum supported legacy offset page size (${maxPerPage}). Use cursor pagination with limit, after, and before.`;
  } else if (window > maxWindow) {
    detail = `Requested window ${window} exceeds the maximum supported legacy offset window (${maxWindow}). Use cursor pagination with limit, after, and before.`;
  }
  if (detail === null) return null;
  return new ApiError(400, detail, {
    body: {
      message: 'legacy_offset_pagination_limit_exceeded',
      detail,
      requested_page: offset.page,
      requested_per_page: offset.perPage,
      requested_window: window,
      max_page: maxPage,
      max_window: maxWindow,
      cursor_example: `${baseUrl}/platform/v1/whatsapp/contacts?limit=${maxPerPage}`,
    },
  });
}

