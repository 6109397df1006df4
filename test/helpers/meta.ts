// Meta webhook bodies for the inbound tests: the JSON fixtures under test/fixtures/meta (with
// `__NAME__` placeholders), small factories for bodies built per test, signed posting, draining
// the inbound worker, and connecting a business number through the phone numbers API.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import pino from 'pino';
import type { Database } from '../../src/db/schema.ts';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { MetaEventWorker } from '../../src/meta-inbound/worker.ts';
import { TEST_META_APP_SECRET, type TestApp, type TestResponse } from './app.ts';

export const META_WEBHOOK = '/webhooks/meta';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/meta');

export type Vars = Record<string, string | number>;

function substitute(value: unknown, vars: Vars, used: Set<string>): unknown {
  if (typeof value === 'string') {
    const whole = /^__([A-Z_]+?)__$/.exec(value);
    if (whole && typeof vars[whole[1]!] === 'number') {
      used.add(whole[1]!);
      return vars[whole[1]!];
    }
    return value.replace(/__([A-Z_]+?)__/g, (_match, name: string) => {
      assert.ok(name in vars, `fixture placeholder __${name}__ has no value`);
      used.add(name);
      return String(vars[name]);
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, vars, used));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, vars, used)]));
  }
  return value;
}

/** A fixture with every `__NAME__` placeholder replaced (a number var replaces the whole string). */
export function fixture(name: string, vars: Vars): any {
  const parsed = JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8'));
  return substitute(parsed, { WABA_ID: '102290129340398', ...vars }, new Set());
}

let counter = 0;
export function wamid(): string {
  counter += 1;
  return `wamid.HBgL${randomBytes(12).toString('base64url')}${counter}AA==`;
}

export function freshMetaId(): string {
  return `10${Date.now() % 1_000_000_000}${randomBytes(3).readUIntBE(0, 3)}`;
}

let phoneSeq = 0;
/** A fresh sender number (E.164 digits) and BSUID. */
export function freshUser(): { waId: string; bsuid: string } {
  phoneSeq += 1;
  const n = `${process.pid % 1000}${String(phoneSeq).padStart(4, '0')}`.padStart(7, '0');
  return { waId: `1650${n}`, bsuid: `US.${randomBytes(8).readBigUInt64BE().toString()}` };
}

/** Unix seconds as Meta sends them. */
export const unix = (date: Date): string => String(Math.floor(date.getTime() / 1000));

export function envelope(phoneNumberId: string, field: 'messages' | 'user_preferences', value: Record<string, unknown>): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [{ field, value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId }, ...value } }],
      },
    ],
  };
}

export interface Sender {
  /** E.164 digits; '' or undefined for a BSUID-only user. */
  waId?: string;
  bsuid?: string;
  parentBsuid?: string;
  name?: string;
  username?: string;
}

export interface TextMessage extends Sender {
  wamid?: string;
  timestamp?: Date | string;
  text?: string;
  /** Leave `from` out of the message entirely (instead of an empty string). */
  omitFrom?: boolean;
}

/** One inbound text message as Meta delivers it. */
export function textBody(phoneNumberId: string, m: TextMessage): { body: Record<string, unknown>; wamid: string } {
  const id = m.wamid ?? wamid();
  const timestamp = m.timestamp instanceof Date ? unix(m.timestamp) : (m.timestamp ?? unix(new Date()));
  const profile: Record<string, unknown> = { name: m.name ?? 'Test User' };
  if (m.username) profile.username = m.username;
  const contact: Record<string, unknown> = { profile, wa_id: m.waId ?? '' };
  if (m.bsuid) contact.user_id = m.bsuid;
  if (m.parentBsuid) contact.parent_user_id = m.parentBsuid;
  const message: Record<string, unknown> = { id, timestamp, type: 'text', text: { body: m.text ?? 'hello' } };
  if (!m.omitFrom) message.from = m.waId ?? '';
  if (m.bsuid) message.from_user_id = m.bsuid;
  if (m.parentBsuid) message.from_parent_user_id = m.parentBsuid;
  return { body: envelope(phoneNumberId, 'messages', { contacts: [contact], messages: [message] }), wamid: id };
}

/** One status (sent/delivered/read/failed) for a message, from the JSON fixtures. */
export function statusBody(phoneNumberId: string, status: 'sent' | 'delivered' | 'read' | 'failed_131050', s: { wamid: string; waId: string; bsuid?: string; at: Date }) {
  return fixture(`status_${status}`, { PHONE_NUMBER_ID: phoneNumberId, WAMID: s.wamid, RECIPIENT_ID: s.waId, RECIPIENT_USER_ID: s.bsuid ?? '', TIMESTAMP: unix(s.at) });
}

/** A user_preferences change (stop / resume marketing messages), from the JSON fixtures. */
export function preferenceBody(phoneNumberId: string, value: 'stop' | 'resume', s: { waId: string; bsuid: string; at: Date }) {
  return fixture(`user_preferences_${value}`, { PHONE_NUMBER_ID: phoneNumberId, WA_ID: s.waId, USER_ID: s.bsuid, TIMESTAMP: Math.floor(s.at.getTime() / 1000) });
}

/** POSTs a body to the Meta webhook, signed with `secret` (the test app's by default). */
export async function postMeta(t: TestApp, body: unknown, options: { secret?: string | null; headers?: Record<string, string> } = {}): Promise<TestResponse> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(options.headers ?? {}) };
  const secret = options.secret === undefined ? TEST_META_APP_SECRET : options.secret;
  if (secret !== null) headers['x-hub-signature-256'] = signBody(raw, secret);
  return t.request({ method: 'POST', url: META_WEBHOOK, key: null, rawBody: raw, headers });
}

/** Posts and asserts Meta got its 200. */
export async function deliver(t: TestApp, body: unknown): Promise<void> {
  const response = await postMeta(t, body);
  assert.equal(response.status, 200, response.text);
}

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Runs one inbound worker until the queue is empty; returns how many bodies it handled. */
export async function drain(db: Kysely<Database>, options: { batchSize?: number } = {}): Promise<number> {
  return new MetaEventWorker(db, silentLogger, { pollMs: 50, ...options }).drain();
}

export interface ConnectedNumber {
  phoneNumberId: string;
  internalId: string;
  customerId: string;
}

/** Creates a customer and connects a fresh Meta number to it through the API. */
export async function connectNumber(t: TestApp, options: { inbound?: boolean; key?: string } = {}): Promise<ConnectedNumber> {
  const key = options.key ?? t.key;
  const customer = await t.request({ method: 'POST', url: '/platform/v1/customers', key, body: { customer: { name: `Customer ${randomBytes(3).toString('hex')}` } } });
  assert.equal(customer.status, 201, customer.text);
  const phoneNumberId = freshMetaId();
  const body: Record<string, unknown> = { name: 'Support line', phone_number_id: phoneNumberId, business_account_id: '102290129340398', access_token: 'EAAG-test-token' };
  if (options.inbound !== undefined) body.inbound_processing_enabled = options.inbound;
  const response = await t.request({ method: 'POST', url: `/platform/v1/customers/${customer.body.data.id}/whatsapp/phone_numbers`, key, body: { whatsapp_phone_number: body } });
  assert.equal(response.status, 201, response.text);
  return { phoneNumberId, internalId: response.body.data.internal_id, customerId: customer.body.data.id };
}

export async function eventStates(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db.selectFrom('meta_events').select(['state']).select((eb) => eb.fn.countAll<number>().as('n')).groupBy('state').execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}
