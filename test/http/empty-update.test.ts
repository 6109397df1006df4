// An update that changes nothing — an empty object, or values equal to the stored ones — is a
// true no-op on every PATCH route: 200 with the resource as it was, `updated_at` (and the ETag,
// where there is one) unmoved, as a later GET confirms.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, deliver, drain, freshUser, textBody } from '../helpers/meta.ts';

const BASE = '/platform/v1';
let t: TestApp;

before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());

const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

/** PATCHes each body in turn and checks that neither the answer nor a later GET shows a change. */
async function assertNoOps(url: string, wrapper: string, bodies: Record<string, unknown>[], contentType = 'application/json'): Promise<void> {
  const first = await t.request({ method: 'GET', url });
  assert.equal(first.status, 200, first.text);
  for (const fields of bodies) {
    await pause();
    const patched = await t.request({ method: 'PATCH', url, rawBody: JSON.stringify({ [wrapper]: fields }), headers: { 'content-type': contentType } });
    const what = `PATCH ${url} ${JSON.stringify({ [wrapper]: fields })} (${contentType})`;
    assert.equal(patched.status, 200, `${what}: ${patched.text}`);
    assert.equal(patched.body.data.updated_at, first.body.data.updated_at, `${what} moved updated_at`);
    assert.equal(patched.headers.etag, first.headers.etag, `${what} moved the ETag`);
    const again = await t.request({ method: 'GET', url });
    assert.deepEqual(again.body, first.body, `${what} changed the stored resource`);
    assert.equal(again.headers.etag, first.headers.etag, `${what} moved the stored ETag`);
  }
}

test('contacts: {"contact":{}} and the stored values, as JSON and as a merge patch', async () => {
  const customer = (await t.request({ method: 'POST', url: `${BASE}/customers`, body: { customer: { name: 'C' } } })).body.data;
  const created = await t.request({
    method: 'POST',
    url: `${BASE}/whatsapp/contacts`,
    body: { contact: { wa_id: '+1 555 075 0001', profile_name: 'Ada', display_name: null, customer_id: customer.id, metadata: { a: 1, b: { c: [1, 2] } } } },
  });
  assert.equal(created.status, 201, created.text);
  const url = `${BASE}/whatsapp/contacts/${created.body.data.id}`;
  const same = { wa_id: '15550750001', profile_name: 'Ada', display_name: null, customer_id: customer.id, metadata: { b: { c: [1, 2] }, a: 1 } };
  await assertNoOps(url, 'contact', [{}, same, { wa_id: '+1 (555) 075-0001' }]);
  await assertNoOps(url, 'contact', [{}, { metadata: {} }, { metadata: { a: 1 } }, same], 'application/merge-patch+json');
});

test('customers: {"customer":{}} and the stored values', async () => {
  const created = await t.request({ method: 'POST', url: `${BASE}/customers`, body: { customer: { name: 'Acme', external_customer_id: 'acme-1' } } });
  assert.equal(created.status, 201, created.text);
  await assertNoOps(`${BASE}/customers/${created.body.data.id}`, 'customer', [{}, { name: 'Acme' }, { name: 'Acme', external_customer_id: 'acme-1' }]);
  const bare = await t.request({ method: 'POST', url: `${BASE}/customers`, body: { customer: { name: 'Bare' } } });
  await assertNoOps(`${BASE}/customers/${bare.body.data.id}`, 'customer', [{ external_customer_id: null }]);
});

test('phone numbers: {"whatsapp_phone_number":{}}, the stored settings and the same access token', async () => {
  const number = await connectNumber(t);
  await assertNoOps(`${BASE}/whatsapp/phone_numbers/${number.phoneNumberId}`, 'whatsapp_phone_number', [
    {},
    { name: 'Support line' },
    { inbound_processing_enabled: true, calls_enabled: false, kind: 'production' },
    { access_token: 'EAAG-test-token' },
  ]);
  // A real change still moves updated_at.
  await pause();
  const url = `${BASE}/whatsapp/phone_numbers/${number.phoneNumberId}`;
  const before = (await t.request({ method: 'GET', url })).body.data.updated_at;
  const renamed = await t.request({ method: 'PATCH', url, body: { whatsapp_phone_number: { name: 'Sales line' } } });
  assert.notEqual(renamed.body.data.updated_at, before);
});

test('webhooks, of the project and of a number: {} and the stored values', async () => {
  const project = await t.request({ method: 'POST', url: `${BASE}/whatsapp/webhooks`, body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/p', events: ['whatsapp.contact.created'] } } });
  assert.equal(project.status, 201, project.text);
  await assertNoOps(`${BASE}/whatsapp/webhooks/${project.body.data.id}`, 'whatsapp_webhook', [{}, { url: 'http://127.0.0.1:9/p', events: ['whatsapp.contact.created'], active: true }]);
  const number = await connectNumber(t);
  const scoped = await t.request({
    method: 'POST',
    url: `${BASE}/whatsapp/phone_numbers/${number.phoneNumberId}/webhooks`,
    body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/n', secret_key: 'wh_sec', events: ['whatsapp.message.received'] } },
  });
  assert.equal(scoped.status, 201, scoped.text);
  await assertNoOps(`${BASE}/whatsapp/phone_numbers/${number.phoneNumberId}/webhooks/${scoped.body.data.id}`, 'whatsapp_webhook', [{}, { secret_key: 'wh_sec', events: ['whatsapp.message.received'] }]);
});

test('conversations: the status it already has', async () => {
  const number = await connectNumber(t);
  await deliver(t, textBody(number.phoneNumberId, { ...freshUser(), text: 'hi' }).body);
  await drain(t.database.db);
  const conversation = (await t.request({ method: 'GET', url: `${BASE}/whatsapp/conversations?phone_number_id=${number.phoneNumberId}` })).body.data[0];
  assert.ok(conversation);
  await assertNoOps(`${BASE}/whatsapp/conversations/${conversation.id}`, 'whatsapp_conversation', [{ status: 'active' }]);
  const ended = await t.request({ method: 'PATCH', url: `${BASE}/whatsapp/conversations/${conversation.id}`, body: { whatsapp_conversation: { status: 'ended' } } });
  assert.equal(ended.status, 200, ended.text);
  await assertNoOps(`${BASE}/whatsapp/conversations/${conversation.id}`, 'whatsapp_conversation', [{ status: 'ended' }]);
});
