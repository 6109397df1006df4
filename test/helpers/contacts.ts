// Small factories and assertions for the contacts HTTP tests.
import assert from 'node:assert/strict';
import type { RequestOptions, TestApp, TestResponse } from './app.ts';

export const CONTACTS = '/platform/v1/whatsapp/contacts';

export const CONTACT_FIELDS = [
  'id',
  'wa_id',
  'business_scoped_user_id',
  'parent_business_scoped_user_id',
  'username',
  'profile_name',
  'display_name',
  'customer_id',
  'metadata',
  'created_at',
  'updated_at',
].sort();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** ISO 8601 UTC with exactly six fraction digits and a Z. */
export const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

let sequence = 0;
/**
 * A fresh Meta-style test number (+1 555 …) as E.164 digits. `salt` keeps numbers of
 * different files apart; every file has its own database anyway.
 */
export function freshWaId(salt = 0): string {
  sequence += 1;
  return `1555${String(salt * 100_000 + sequence).padStart(7, '0')}`;
}

/** `15551234567` → `+1 555-123-4567`, another written form of the same number. */
export function usStyle(waId: string): string {
  assert.match(waId, /^1\d{10}$/);
  return `+1 ${waId.slice(1, 4)}-${waId.slice(4, 7)}-${waId.slice(7)}`;
}

export function contactUrl(identifier: string): string {
  return `${CONTACTS}/${encodeURIComponent(identifier)}`;
}

export async function createContact(t: TestApp, contact: Record<string, unknown>, extra: Partial<RequestOptions> = {}): Promise<TestResponse> {
  return t.request({ method: 'POST', url: CONTACTS, body: { contact }, ...extra });
}

/** Creates a contact and returns its wire body; fails the test unless the answer is 201. */
export async function newContact(t: TestApp, contact: Record<string, unknown> = {}, key?: string): Promise<Record<string, any>> {
  const response = await createContact(t, { wa_id: freshWaId(), ...contact }, key === undefined ? {} : { key });
  assert.equal(response.status, 201, response.text);
  return response.body.data;
}

export async function getContact(t: TestApp, identifier: string, headers: Record<string, string> = {}): Promise<TestResponse> {
  return t.request({ method: 'GET', url: contactUrl(identifier), headers });
}

export async function patchContact(
  t: TestApp,
  identifier: string,
  contact: Record<string, unknown>,
  options: { merge?: boolean; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.merge) headers['content-type'] = 'application/merge-patch+json';
  return t.request({ method: 'PATCH', url: contactUrl(identifier), body: { contact }, headers });
}

export async function newCustomer(t: TestApp, name = 'Acme', key?: string): Promise<string> {
  const response = await t.request({ method: 'POST', url: '/platform/v1/customers', body: { customer: { name } }, ...(key === undefined ? {} : { key }) });
  assert.equal(response.status, 201, response.text);
  return response.body.data.id;
}

/** Every field of the resource is present, with the wire types. */
export function assertContactShape(contact: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(contact).sort(), CONTACT_FIELDS);
  assert.match(String(contact.id), UUID);
  for (const field of ['wa_id', 'business_scoped_user_id', 'parent_business_scoped_user_id', 'username', 'profile_name', 'display_name', 'customer_id']) {
    assert.ok(contact[field] === null || typeof contact[field] === 'string', `${field} is a string or null`);
  }
  assert.ok(contact.metadata === null || (typeof contact.metadata === 'object' && !Array.isArray(contact.metadata)), 'metadata is an object or null');
  assert.match(String(contact.created_at), ISO_MICROS);
  assert.match(String(contact.updated_at), ISO_MICROS);
}

/** A 422 (or other) error body `{error}` whose sentence names `field`. */
export function assertError(response: TestResponse, status: number, field?: string): void {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body ?? {}), ['error'], response.text);
  assert.equal(typeof response.body.error, 'string');
  assert.doesNotMatch(response.text, /\bat .+\.ts:\d+/, 'no stack trace');
  if (field !== undefined) assert.ok(response.body.error.includes(field), `"${response.body.error}" names ${field}`);
}

/** Metadata whose compact JSON is exactly `bytes` bytes long: {"k":"xxx…"}. */
export function metadataOfSize(bytes: number, key = 'k'): Record<string, string> {
  const overhead = JSON.stringify({ [key]: '' }).length;
  const value = { [key]: 'x'.repeat(bytes - overhead) };
  assert.equal(Buffer.byteLength(JSON.stringify(value)), bytes);
  return value;
}

/** An object nested `depth` levels deep (`{}` is depth 1). */
export function metadataOfDepth(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { n: value };
  return value;
}

export async function countContacts(t: TestApp, key?: string): Promise<number> {
  const response = await t.request({ method: 'GET', url: `${CONTACTS}?page=1&per_page=1`, ...(key === undefined ? {} : { key }) });
  assert.equal(response.status, 200, response.text);
  return response.body.meta.total_count;
}
