// U+0000 is refused in one place for every request: JSON strings and keys at any depth, query
// parameters, path parameters and the Idempotency-Key header answer 422 naming where the NUL is,
// and nothing is written. Meta's inbound bodies are not client requests and are still taken.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, freshUser, postMeta, textBody } from '../helpers/meta.ts';

const BASE = '/platform/v1';
let t: TestApp;
let phoneNumberId: string;

before(async () => {
  t = await startTestApp();
  phoneNumberId = (await connectNumber(t)).phoneNumberId;
});
after(async () => t?.close());

async function rows(table: 'webhooks' | 'contacts' | 'customers' | 'idempotency_keys'): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(t.database.db);
  return rows[0]!.n;
}

async function refused(request: Parameters<TestApp['request']>[0], message: string): Promise<void> {
  const before = await Promise.all((['webhooks', 'contacts', 'customers', 'idempotency_keys'] as const).map(rows));
  const response = await t.request(request);
  assert.equal(response.status, 422, `${request.method} ${request.url}: ${response.text}`);
  assert.deepEqual(response.body, { error: message });
  assert.deepEqual(await Promise.all((['webhooks', 'contacts', 'customers', 'idempotency_keys'] as const).map(rows)), before, 'nothing was written');
}

test('the case from the field: a webhook whose phone_number_id is "\\u0000" is a 422, not a 500', async () => {
  await refused(
    { method: 'POST', url: `${BASE}/whatsapp/webhooks`, rawBody: '{"whatsapp_webhook":{"url":"http://127.0.0.1:9/h","phone_number_id":"\\u0000"}}', headers: { 'content-type': 'application/json' } },
    'whatsapp_webhook.phone_number_id must not contain the NUL character',
  );
});

test('JSON strings and keys at any depth, with the place named', async () => {
  const contacts = `${BASE}/whatsapp/contacts`;
  await refused({ method: 'POST', url: contacts, body: { contact: { wa_id: '+15550720001', metadata: { note: 'a\u0000b' } } } }, 'contact.metadata.note must not contain the NUL character');
  await refused({ method: 'POST', url: contacts, body: { contact: { wa_id: '+15550720001', metadata: { tags: ['x', ['y', '\u0000']] } } } }, 'contact.metadata.tags[1][1] must not contain the NUL character');
  await refused({ method: 'POST', url: contacts, body: { contact: { wa_id: '+15550720001', metadata: { 'k\u0000': 1 } } } }, 'a key in contact.metadata must not contain the NUL character');
  await refused({ method: 'POST', url: contacts, body: { 'contact\u0000': {} } }, 'a key in the request body must not contain the NUL character');
  await refused({ method: 'POST', url: `${BASE}/customers`, body: { customer: { name: 'Nul\u0000l' } } }, 'customer.name must not contain the NUL character');
  await refused({ method: 'PATCH', url: `${BASE}/whatsapp/phone_numbers/${phoneNumberId}`, body: { whatsapp_phone_number: { name: '\u0000' } } }, 'whatsapp_phone_number.name must not contain the NUL character');
  // A JSON merge patch is checked the same way.
  await refused(
    { method: 'POST', url: `${BASE}/customers`, rawBody: JSON.stringify({ customer: { name: 'x', external_customer_id: '\u0000' } }), headers: { 'content-type': 'application/merge-patch+json' } },
    'customer.external_customer_id must not contain the NUL character',
  );
});

test('query parameters, their names, path parameters and the Idempotency-Key header', async () => {
  await refused({ method: 'GET', url: `${BASE}/customers?name_contains=a%00b` }, 'query parameter name_contains must not contain the NUL character');
  await refused({ method: 'GET', url: `${BASE}/whatsapp/messages?x%00=1` }, 'the name of a query parameter must not contain the NUL character');
  await refused({ method: 'GET', url: `${BASE}/whatsapp/messages/wamid.%00` }, 'path parameter wamid must not contain the NUL character');
  await refused({ method: 'GET', url: `${BASE}/whatsapp/contacts/%2B1555%00` }, 'path parameter identifier must not contain the NUL character');
  await refused(
    { method: 'POST', url: `${BASE}/whatsapp/contacts`, body: { contact: { wa_id: '+15550720002' } }, headers: { 'idempotency-key': 'k\u0000' } },
    'header idempotency-key must not contain the NUL character',
  );
});

test('authentication comes first: without a key, a NUL is still a 401', async () => {
  const response = await t.request({ method: 'GET', url: `${BASE}/customers?name_contains=%00`, key: null });
  assert.equal(response.status, 401);
});

test("Meta's inbound bodies are still taken (the inbound worker removes the NUL, see meta-inbound/processing)", async () => {
  const { body } = textBody(phoneNumberId, { ...freshUser(), text: 'be\u0000fore' });
  const response = await postMeta(t, body);
  assert.equal(response.status, 200, response.text);
});
