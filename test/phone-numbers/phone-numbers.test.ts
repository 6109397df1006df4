// The phone numbers API through the real app: connect, list (offset mode and filters), get,
// patch (rename, rotate the token), delete (history kept) and tenant isolation. The access
// token goes in and never comes out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { deliver, drain, freshMetaId, freshUser, textBody } from '../helpers/meta.ts';

const BASE = '/platform/v1';
const SECRET_TOKEN = 'EAAGm0PX4ZCpsBAPnotreallyasecretZBZCtoken';
const FIELDS = [
  'id', 'internal_id', 'phone_number_id', 'name', 'kind', 'business_account_id', 'customer_id', 'display_phone_number', 'display_phone_number_normalized',
  'verified_name', 'inbound_processing_enabled', 'calls_enabled', 'webhook_verified_at', 'status', 'created_at', 'updated_at',
].sort();

let t: TestApp;
let customerId: string;
before(async () => {
  t = await startTestApp();
  customerId = await newCustomer();
});
after(async () => t?.close());

async function newCustomer(key = t.key): Promise<string> {
  const response = await t.request({ method: 'POST', url: `${BASE}/customers`, key, body: { customer: { name: 'Acme' } } });
  assert.equal(response.status, 201, response.text);
  return response.body.data.id;
}

function noToken(response: TestResponse): void {
  assert.ok(!response.text.includes(SECRET_TOKEN), `the access token leaked: ${response.text}`);
  // An error may name the field (422 "whatsapp_phone_number.access_token ..."), a resource never.
  if (response.status < 300) assert.ok(!response.text.includes('access_token'), 'no access_token field at all');
  assert.ok(!/rotated-token/.test(response.text));
}

async function connect(fields: Record<string, unknown> = {}, options: { customer?: string; key?: string } = {}): Promise<TestResponse> {
  const response = await t.request({
    method: 'POST',
    url: `${BASE}/customers/${options.customer ?? customerId}/whatsapp/phone_numbers`,
    key: options.key ?? t.key,
    body: { whatsapp_phone_number: { name: 'Support', phone_number_id: freshMetaId(), business_account_id: '102290129340398', access_token: SECRET_TOKEN, ...fields } },
  });
  noToken(response);
  return response;
}

const numberUrl = (id: string) => `${BASE}/whatsapp/phone_numbers/${id}`;

test('connect answers 201 with the number and never the token; the token is stored sealed', async () => {
  const metaId = freshMetaId();
  const response = await connect({ phone_number_id: metaId, name: 'Sales line', kind: 'sandbox', display_phone_number: '+1 555-078-3881', verified_name: 'Acme Sales', calls_enabled: true });
  assert.equal(response.status, 201, response.text);
  const data = response.body.data;
  assert.deepEqual(Object.keys(data).sort(), FIELDS);
  assert.equal(data.id, metaId);
  assert.equal(data.phone_number_id, metaId);
  assert.equal(data.name, 'Sales line');
  assert.equal(data.kind, 'sandbox');
  assert.equal(data.customer_id, customerId);
  assert.equal(data.display_phone_number_normalized, '15550783881');
  assert.equal(data.inbound_processing_enabled, true, 'on by default');
  assert.equal(data.calls_enabled, true);
  assert.match(data.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  const row = await t.database.db.selectFrom('phone_numbers').select('access_token_sealed').where('internal_id', '=', data.internal_id).executeTakeFirstOrThrow();
  assert.ok(!row.access_token_sealed.toString('latin1').includes(SECRET_TOKEN), 'not stored in clear');
  assert.equal(t.cipher.open(row.access_token_sealed), SECRET_TOKEN);
});

test('connecting a Meta number that is already connected is 409, also from another project', async () => {
  const metaId = freshMetaId();
  assert.equal((await connect({ phone_number_id: metaId })).status, 201);
  const again = await connect({ phone_number_id: metaId, name: 'Again' });
  assert.equal(again.status, 409, again.text);
  assert.match(again.body.error, new RegExp(metaId));
  const otherCustomer = await newCustomer(t.otherKey);
  const elsewhere = await connect({ phone_number_id: metaId }, { customer: otherCustomer, key: t.otherKey });
  assert.equal(elsewhere.status, 409, elsewhere.text);
  const count = await t.database.db.selectFrom('phone_numbers').select('internal_id').where('phone_number_id', '=', metaId).execute();
  assert.equal(count.length, 1);
  // Once disconnected, the Meta number can be connected again.
  assert.equal((await t.request({ method: 'DELETE', url: numberUrl(metaId) })).status, 204);
  assert.equal((await connect({ phone_number_id: metaId }, { customer: otherCustomer, key: t.otherKey })).status, 201);
});

test('connect: unknown customer 404, invalid fields 422, all without storing anything', async () => {
  const before = (await t.database.db.selectFrom('phone_numbers').select('internal_id').execute()).length;
  for (const customer of ['0f8fad5b-d9cb-469f-a165-70867728950e', 'not-a-uuid']) {
    const response = await connect({}, { customer });
    assert.equal(response.status, 404, response.text);
    assert.equal(response.body.error, 'Customer not found');
  }
  const otherProjectsCustomer = await newCustomer(t.otherKey);
  assert.equal((await connect({}, { customer: otherProjectsCustomer })).status, 404);
  const invalid: Record<string, unknown>[] = [
    { name: '' },
    { name: undefined },
    { phone_number_id: 'abc' },
    { phone_number_id: 12345 },
    { business_account_id: '' },
    { access_token: '' },
    { access_token: undefined },
    { kind: 'staging' },
    { inbound_processing_enabled: 'yes' },
    { unexpected: true },
    { name: 'bad\u0000name' },
  ];
  for (const fields of invalid) {
    const response = await connect(fields);
    assert.equal(response.status, 422, `${JSON.stringify(fields)}: ${response.text}`);
    assert.equal(typeof response.body.error, 'string');
  }
  const noWrapper = await t.request({ method: 'POST', url: `${BASE}/customers/${customerId}/whatsapp/phone_numbers`, body: { name: 'x' } });
  assert.equal(noWrapper.status, 422);
  assert.equal((await t.database.db.selectFrom('phone_numbers').select('internal_id').execute()).length, before);
});

test('list in offset mode with meta, headers and every filter', async () => {
  const customer = await newCustomer();
  const created: Record<string, any>[] = [];
  for (const [i, name] of ['Alpha desk', 'Beta desk', 'Gamma line'].entries()) {
    const response = await connect({ name, business_account_id: i === 2 ? '555000111' : '102290129340398' }, { customer });
    assert.equal(response.status, 201);
    created.push(response.body.data);
  }
  const list = async (query: string) => {
    const response = await t.request({ method: 'GET', url: `${BASE}/whatsapp/phone_numbers?${query}` });
    assert.equal(response.status, 200, response.text);
    noToken(response);
    return response;
  };
  const ids = (response: TestResponse) => response.body.data.map((n: { id: string }) => n.id);

  const all = await list(`customer_id=${customer}&per_page=2`);
  assert.deepEqual(ids(all), [created[2]!.id, created[1]!.id], 'newest first');
  assert.deepEqual(all.body.meta, { page: 1, per_page: 2, total_pages: 2, total_count: 3 });
  assert.equal(all.headers['x-total'], '3');
  assert.equal(all.headers['x-total-pages'], '2');
  assert.equal(all.headers['x-per-page'], '2');
  assert.equal(all.headers['x-page'], '1');
  assert.match(String(all.headers.link), /rel="next"/);
  assert.match(String(all.headers.link), /rel="last"/);
  const page2 = await list(`customer_id=${customer}&per_page=2&page=2`);
  assert.deepEqual(ids(page2), [created[0]!.id]);
  assert.match(String(page2.headers.link), /rel="prev"/);
  assert.doesNotMatch(String(page2.headers.link), /rel="next"/);
  for (const n of all.body.data) assert.deepEqual(Object.keys(n).sort(), FIELDS);

  assert.deepEqual(ids(await list(`phone_number_id=${created[1]!.id}`)), [created[1]!.id]);
  assert.deepEqual(ids(await list(`customer_id=${customer}&business_account_id=555000111`)), [created[2]!.id]);
  assert.deepEqual(ids(await list(`customer_id=${customer}&name_contains=DESK`)), [created[1]!.id, created[0]!.id]);
  assert.deepEqual(ids(await list(`customer_id=${customer}&name_contains=%25`)), [], 'a % is a literal character');
  assert.deepEqual(ids(await list(`customer_id=${customer}&created_after=${encodeURIComponent(created[0]!.created_at)}`)), [created[2]!.id, created[1]!.id]);
  assert.deepEqual(ids(await list(`customer_id=${customer}&created_before=${encodeURIComponent(created[2]!.created_at)}`)), [created[1]!.id, created[0]!.id]);
  assert.deepEqual(ids(await list(`phone_number_id=999999999999`)), []);
  for (const bad of ['customer_id=nope', 'created_after=yesterday']) {
    const response = await t.request({ method: 'GET', url: `${BASE}/whatsapp/phone_numbers?${bad}` });
    assert.ok([400, 422].includes(response.status), `${bad}: ${response.status}`);
  }
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/whatsapp/phone_numbers?page=0` })).status, 400);
});

test('get and patch: rename, switch flags, rotate the token (the sealed bytes change)', async () => {
  const created = (await connect({ name: 'Old name' })).body.data;
  const got = await t.request({ method: 'GET', url: numberUrl(created.id) });
  assert.equal(got.status, 200);
  noToken(got);
  assert.deepEqual(got.body.data, created);

  const sealed = async () =>
    (await t.database.db.selectFrom('phone_numbers').select('access_token_sealed').where('internal_id', '=', created.internal_id).executeTakeFirstOrThrow()).access_token_sealed;
  const before = await sealed();
  const renamed = await t.request({ method: 'PATCH', url: numberUrl(created.id), body: { whatsapp_phone_number: { name: 'New name', inbound_processing_enabled: false } } });
  assert.equal(renamed.status, 200, renamed.text);
  noToken(renamed);
  assert.equal(renamed.body.data.name, 'New name');
  assert.equal(renamed.body.data.inbound_processing_enabled, false);
  assert.equal(renamed.body.data.created_at, created.created_at);
  assert.ok(renamed.body.data.updated_at > created.updated_at);
  assert.deepEqual(await sealed(), before, 'a rename leaves the token alone');

  const rotated = await t.request({ method: 'PATCH', url: numberUrl(created.id), body: { whatsapp_phone_number: { access_token: 'rotated-token-EAAG2' } } });
  assert.equal(rotated.status, 200, rotated.text);
  noToken(rotated);
  assert.equal(rotated.body.data.name, 'New name');
  const after = await sealed();
  assert.notDeepEqual(after, before);
  assert.equal(t.cipher.open(after), 'rotated-token-EAAG2');

  for (const body of [{ whatsapp_phone_number: { name: '' } }, { whatsapp_phone_number: { phone_number_id: '1' } }, { whatsapp_phone_number: { access_token: '' } }]) {
    assert.equal((await t.request({ method: 'PATCH', url: numberUrl(created.id), body })).status, 422, JSON.stringify(body));
  }
  assert.equal((await t.request({ method: 'GET', url: numberUrl('404404404') })).status, 404);
  assert.equal((await t.request({ method: 'PATCH', url: numberUrl('404404404'), body: { whatsapp_phone_number: { name: 'x' } } })).status, 404);
});

test('delete answers 204 then 404; the number’s conversations and messages stay in the database', async () => {
  const created = (await connect()).body.data;
  const user = freshUser();
  const { body, wamid } = textBody(created.id, user);
  await deliver(t, body);
  await drain(t.database.db);
  const conversation = await t.database.db.selectFrom('conversations').select(['id', 'messages_count']).where('phone_number_id', '=', created.id).executeTakeFirstOrThrow();

  const deleted = await t.request({ method: 'DELETE', url: numberUrl(created.id) });
  assert.equal(deleted.status, 204);
  assert.equal(deleted.text, '');
  assert.equal((await t.request({ method: 'GET', url: numberUrl(created.id) })).status, 404);
  assert.equal((await t.request({ method: 'DELETE', url: numberUrl(created.id) })).status, 404);
  assert.equal((await t.request({ method: 'PATCH', url: numberUrl(created.id), body: { whatsapp_phone_number: { name: 'x' } } })).status, 404);
  const listed = await t.request({ method: 'GET', url: `${BASE}/whatsapp/phone_numbers?phone_number_id=${created.id}` });
  assert.deepEqual(listed.body.data, []);

  const kept = await t.database.db.selectFrom('conversations').select(['id', 'messages_count']).where('id', '=', conversation.id).executeTakeFirst();
  assert.deepEqual(kept, { id: conversation.id, messages_count: 1 });
  const message = await t.database.db.selectFrom('messages').select(['wamid', 'conversation_id']).where('wamid', '=', wamid).executeTakeFirst();
  assert.deepEqual(message, { wamid, conversation_id: conversation.id });
});

test('another project’s key sees none of it (404, empty list), and changes nothing', async () => {
  const created = (await connect({ name: 'Private' })).body.data;
  const asOther = (method: 'GET' | 'PATCH' | 'DELETE', body?: unknown) => t.request({ method, url: numberUrl(created.id), key: t.otherKey, body });
  assert.equal((await asOther('GET')).status, 404);
  assert.equal((await asOther('PATCH', { whatsapp_phone_number: { name: 'Hijacked', access_token: 'stolen' } })).status, 404);
  assert.equal((await asOther('DELETE')).status, 404);
  const list = await t.request({ method: 'GET', url: `${BASE}/whatsapp/phone_numbers?phone_number_id=${created.id}`, key: t.otherKey });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.data, []);
  const mine = await t.request({ method: 'GET', url: numberUrl(created.id) });
  assert.equal(mine.body.data.name, 'Private');
  assert.equal((await t.request({ method: 'GET', url: numberUrl(created.id), key: null })).status, 401);
});
