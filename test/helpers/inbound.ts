// Produces inbound WhatsApp data the real way: a phone number connected through the API, signed
// Meta webhook bodies posted to /webhooks/meta, and the inbound worker draining the queue.
import assert from 'node:assert/strict';
import pino from 'pino';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { inboundTextBody, type SimulatedInbound } from '../../src/meta-inbound/simulate.ts';
import { MetaEventWorker } from '../../src/meta-inbound/worker.ts';
import { TEST_META_APP_SECRET, type TestApp } from './app.ts';

export interface ConnectOptions {
  phoneNumberId: string;
  name?: string;
  displayPhoneNumber?: string;
  /** Project key; the alpha key by default. */
  key?: string;
}

/** Creates a customer and connects a number to it; returns the number's wire body. */
export async function connectNumber(t: TestApp, options: ConnectOptions): Promise<Record<string, any>> {
  const keyed = options.key === undefined ? {} : { key: options.key };
  const customer = await t.request({ method: 'POST', url: '/platform/v1/customers', body: { customer: { name: `Owner of ${options.phoneNumberId}` } }, ...keyed });
  assert.equal(customer.status, 201, customer.text);
  const number = await t.request({
    method: 'POST',
    url: `/platform/v1/customers/${customer.body.data.id}/whatsapp/phone_numbers`,
    body: {
      whatsapp_phone_number: {
        name: options.name ?? `Line ${options.phoneNumberId}`,
        phone_number_id: options.phoneNumberId,
        business_account_id: '900000000000001',
        access_token: 'EAAG-test-token',
        ...(options.displayPhoneNumber === undefined ? {} : { display_phone_number: options.displayPhoneNumber }),
      },
    },
    ...keyed,
  });
  assert.equal(number.status, 201, number.text);
  return number.body.data;
}

/** Posts one signed Meta webhook body; fails the test unless Meta would see 200. */
export async function postWebhook(t: TestApp, body: unknown): Promise<void> {
  const raw = JSON.stringify(body);
  const response = await t.request({
    method: 'POST',
    url: '/webhooks/meta',
    key: null,
    rawBody: raw,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, TEST_META_APP_SECRET) },
  });
  assert.equal(response.status, 200, response.text);
}

/** Processes every stored webhook body; fails the test when one could not be processed. */
export async function drain(t: TestApp): Promise<void> {
  await new MetaEventWorker(t.database.db, pino({ level: 'silent' }), { pollMs: 50 }).drain();
  const stuck = await t.database.db.selectFrom('meta_events').select(['id', 'note', 'state']).where('state', 'not in', ['processed']).execute();
  assert.deepEqual(stuck, [], 'every webhook body was processed');
}

/** One webhook body with one `messages` change holding `value`, as Meta wraps it. */
export function messagesChange(phoneNumberId: string, value: Record<string, unknown>, field = 'messages'): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: '900000000000001', changes: [{ field, value: { messaging_product: 'whatsapp', metadata: { display_phone_number: phoneNumberId, phone_number_id: phoneNumberId }, ...value } }] }],
  };
}

/** Sends one inbound text message and processes it; returns its wamid. */
export async function inboundText(t: TestApp, input: SimulatedInbound): Promise<string> {
  const body = inboundTextBody(input);
  await postWebhook(t, body);
  await drain(t);
  return (body.entry![0]!.changes![0]!.value!.messages![0] as { id: string }).id;
}

/** Unix seconds `minutesAgo` minutes before now. */
export function minutesAgo(minutes: number): number {
  return Math.floor(Date.now() / 1000) - minutes * 60;
}

/** Decodes a cursor into its JSON (cursors are base64 JSON). */
export function decodeCursor(cursor: string): { values: string[]; columns: string[] } {
  return JSON.parse(Buffer.from(cursor, 'base64').toString('utf8'));
}
