// Every customers operation through the real app, each answer checked against the response
// schema Kapso's OpenAPI document gives for that operation and status.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
// Every test here is about Kapso's document: `test` skips, with the reason, when it is absent.
import { kapsoOracle, kapsoTest as test } from '../helpers/kapso-oracle.ts';

const CUSTOMERS = '/platform/v1/customers';
const UNKNOWN_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';

const kapso = () => kapsoOracle();

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());

function conforms(operationId: string, response: TestResponse, status: number): any {
  assert.equal(response.status, status, `${operationId}: ${response.text}`);
  kapso().assertResponse(operationId, status, response.body);
  return response.body;
}

function assertKapsoFields(customer: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(customer).sort(), kapso().componentProperties('Customer').sort(), 'exactly the fields Kapso documents');
}

async function create(customer: Record<string, unknown>): Promise<Record<string, any>> {
  const body = conforms('createCustomer', await t.request({ method: 'POST', url: CUSTOMERS, body: { customer } }), 201);
  assertKapsoFields(body.data);
  return body.data;
}

test('the oracle rejects customer bodies that break Kapso’s schema', () => {
  const oracle = kapso();
  const valid = { id: '550e8400-e29b-41d4-a716-446655440000', name: 'Acme Corp', external_customer_id: null, created_at: '2025-01-15T10:00:00Z', updated_at: '2025-01-15T10:00:00Z' };
  assert.deepEqual(oracle.check('getCustomer', 200, { data: valid }), []);
  const rejects = (operationId: string, status: number, body: unknown, path: string) => {
    const errors = oracle.check(operationId, status, body);
    assert.ok(errors.some((e) => e.instancePath === path), `${operationId} ${status} must reject ${JSON.stringify(body)} at ${path}: ${JSON.stringify(errors)}`);
  };
  rejects('getCustomer', 200, { data: { ...valid, id: 'cus_1' } }, '/data/id');
  rejects('createCustomer', 201, { data: { ...valid, name: undefined } }, '/data');
  rejects('updateCustomer', 200, { data: { ...valid, updated_at: 'now' } }, '/data/updated_at');
  rejects('updateCustomer', 200, { data: { ...valid, external_customer_id: 12 } }, '/data/external_customer_id');
  rejects('listCustomers', 200, { data: [valid] }, '');
  rejects('listCustomers', 200, { data: [valid], meta: { page: 1, per_page: 20, total_pages: -1, total_count: 1 } }, '/meta/total_pages');
  rejects('getCustomer', 404, {}, '');
});

test('create with and without an external id; get; both conform', async () => {
  const withExternal = await create({ name: 'Acme Corp', external_customer_id: 'cus_abc123' });
  assert.equal(withExternal.external_customer_id, 'cus_abc123');
  const without = await create({ name: 'Ünïcödé GmbH 🏭' });
  assert.equal(without.external_customer_id, null);
  const explicitNull = await create({ name: 'Null Ltd', external_customer_id: null });
  assert.equal(explicitNull.external_customer_id, null);
  for (const customer of [withExternal, without, explicitNull]) {
    const body = conforms('getCustomer', await t.request({ method: 'GET', url: `${CUSTOMERS}/${customer.id}` }), 200);
    assert.deepEqual(body.data, customer);
    // Upper-case UUIDs name the same customer.
    conforms('getCustomer', await t.request({ method: 'GET', url: `${CUSTOMERS}/${customer.id.toUpperCase()}` }), 200);
  }
});

test('update name, external id, and clear the external id', async () => {
  const customer = await create({ name: 'Before', external_customer_id: 'cus_upd_1' });
  const renamed = conforms('updateCustomer', await t.request({ method: 'PATCH', url: `${CUSTOMERS}/${customer.id}`, body: { customer: { name: 'Acme Corporation' } } }), 200);
  assert.equal(renamed.data.name, 'Acme Corporation');
  assert.equal(renamed.data.external_customer_id, 'cus_upd_1');
  const moved = conforms('updateCustomer', await t.request({ method: 'PATCH', url: `${CUSTOMERS}/${customer.id}`, body: { customer: { external_customer_id: 'cus_upd_2' } } }), 200);
  assert.equal(moved.data.external_customer_id, 'cus_upd_2');
  const cleared = conforms('updateCustomer', await t.request({ method: 'PATCH', url: `${CUSTOMERS}/${customer.id}`, body: { customer: { external_customer_id: null } } }), 200);
  assert.equal(cleared.data.external_customer_id, null);
  assertKapsoFields(cleared.data);
});

test('list in offset mode: body, meta and the headers Kapso documents', async () => {
  for (let i = 0; i < 3; i++) await create({ name: `Listed ${i}`, external_customer_id: `cus_list_${i}` });
  const first = await t.request({ method: 'GET', url: `${CUSTOMERS}?page=1&per_page=2` });
  const body = conforms('listCustomers', first, 200);
  kapso().assertHeaders('listCustomers', 200, first.headers);
  const { page, per_page, total_pages, total_count } = body.meta;
  assert.deepEqual([page, per_page], [1, 2]);
  assert.ok(total_count >= 7, `total_count ${total_count}`);
  assert.equal(total_pages, Math.ceil(total_count / 2));
  assert.deepEqual([first.headers['x-total'], first.headers['x-total-pages'], first.headers['x-per-page'], first.headers['x-page']], [String(total_count), String(total_pages), '2', '1']);
  const link = String(first.headers.link);
  for (const rel of ['first', 'next', 'last']) assert.match(link, new RegExp(`<[^>]*per_page=2[^>]*>; rel="${rel}"`), link);

  // Newest first, every page conforms, every customer exactly once.
  const seen: string[] = [];
  for (let p = 1; p <= total_pages; p++) {
    const response = await t.request({ method: 'GET', url: `${CUSTOMERS}?page=${p}&per_page=2` });
    const pageBody = conforms('listCustomers', response, 200);
    kapso().assertHeaders('listCustomers', 200, response.headers);
    if (p > 1) assert.match(String(response.headers.link), /rel="prev"/);
    if (p === total_pages) assert.doesNotMatch(String(response.headers.link), /rel="next"/);
    pageBody.data.forEach((c: Record<string, unknown>) => assertKapsoFields(c));
    seen.push(...pageBody.data.map((c: { id: string }) => c.id));
  }
  assert.equal(new Set(seen).size, total_count);

  const defaults = await t.request({ method: 'GET', url: CUSTOMERS });
  assert.equal(conforms('listCustomers', defaults, 200).meta.per_page, 20);
  kapso().assertHeaders('listCustomers', 200, defaults.headers);
  const beyond = await t.request({ method: 'GET', url: `${CUSTOMERS}?page=99&per_page=2` });
  assert.deepEqual(conforms('listCustomers', beyond, 200).data, []);
});

test('list with filters: each answer conforms and honours its filter', async () => {
  const cases: [string, (c: any) => boolean, boolean][] = [
    ['name_contains=listed', (c) => /listed/i.test(c.name), true],
    ['name_contains=%C3%BCn%C3%AF', (c) => c.name.includes('Ünï'), true],
    ['external_customer_id=cus_list_1', (c) => c.external_customer_id === 'cus_list_1', true],
    [`created_after=${encodeURIComponent('2001-02-03T04:05:06Z')}`, () => true, true],
    [`created_before=${encodeURIComponent('2001-02-03T04:05:06Z')}`, () => false, false],
    ['name_contains=%25', () => false, false],
  ];
  for (const [query, holds, finds] of cases) {
    const response = await t.request({ method: 'GET', url: `${CUSTOMERS}?${query}` });
    const body = conforms('listCustomers', response, 200);
    kapso().assertHeaders('listCustomers', 200, response.headers);
    assert.ok(body.data.every(holds), `${query}: ${response.text}`);
    assert.equal(body.data.length > 0, finds, query);
    assert.equal(body.meta.total_count, body.data.length, query);
  }
});

test('delete: 204 with an empty body; the customer is gone and its contacts stay with customer_id null', async () => {
  const customer = await create({ name: 'Leaving Inc' });
  const contact = await t.request({ method: 'POST', url: '/platform/v1/whatsapp/contacts', body: { contact: { wa_id: '15550600001', customer_id: customer.id } } });
  assert.equal(contact.status, 201, contact.text);
  assert.equal(kapso().hasBody('deleteCustomer', 204), false);
  const response = await t.request({ method: 'DELETE', url: `${CUSTOMERS}/${customer.id}` });
  assert.equal(response.status, 204, response.text);
  assert.equal(response.text, '');
  conforms('getCustomer', await t.request({ method: 'GET', url: `${CUSTOMERS}/${customer.id}` }), 404);
  const kept = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${contact.body.data.id}` });
  const body = conforms('getWhatsappContactPlatform', kept, 200);
  assert.equal(body.data.customer_id, null);
});

test('404 bodies as documented for get, update and delete', async () => {
  for (const id of [UNKNOWN_ID, 'not-a-uuid', 'cus_abc123']) {
    const path = `${CUSTOMERS}/${encodeURIComponent(id)}`;
    assert.equal(conforms('getCustomer', await t.request({ method: 'GET', url: path }), 404).error, 'Customer not found');
    assert.equal(conforms('updateCustomer', await t.request({ method: 'PATCH', url: path, body: { customer: { name: 'x' } } }), 404).error, 'Customer not found');
    assert.equal(conforms('deleteCustomer', await t.request({ method: 'DELETE', url: path }), 404).error, 'Customer not found');
  }
  // Another project's customer is a 404 as well, never a 403.
  const other = await t.request({ method: 'POST', url: CUSTOMERS, key: t.otherKey, body: { customer: { name: 'Beta Co' } } });
  assert.equal(other.status, 201, other.text);
  conforms('getCustomer', await t.request({ method: 'GET', url: `${CUSTOMERS}/${other.body.data.id}` }), 404);
  conforms('updateCustomer', await t.request({ method: 'PATCH', url: `${CUSTOMERS}/${other.body.data.id}`, body: { customer: { name: 'Mine' } } }), 404);
  conforms('deleteCustomer', await t.request({ method: 'DELETE', url: `${CUSTOMERS}/${other.body.data.id}` }), 404);
});

test('422 bodies as documented for create and update', async () => {
  const taken = await create({ name: 'Taken', external_customer_id: 'cus_taken' });
  const invalid = [{}, { name: '' }, { name: '   ' }, { name: 42 }, { name: 'Dup', external_customer_id: 'cus_taken' }, { name: 'Extra', colour: 'red' }, { name: 'Nul\u0000l' }];
  for (const customer of invalid) {
    conforms('createCustomer', await t.request({ method: 'POST', url: CUSTOMERS, body: { customer } }), 422);
  }
  conforms('createCustomer', await t.request({ method: 'POST', url: CUSTOMERS, body: { name: 'Unwrapped' } }), 422);
  const other = await create({ name: 'Other' });
  for (const customer of [{ name: '' }, { name: null }, { external_customer_id: 'cus_taken' }, { id: UNKNOWN_ID }]) {
    conforms('updateCustomer', await t.request({ method: 'PATCH', url: `${CUSTOMERS}/${other.id}`, body: { customer } }), 422);
  }
  conforms('getCustomer', await t.request({ method: 'GET', url: `${CUSTOMERS}/${taken.id}` }), 200);
});

test('401 bodies as documented for every operation', async () => {
  const requests = [
    ['listCustomers', 'GET', CUSTOMERS],
    ['createCustomer', 'POST', CUSTOMERS],
    ['getCustomer', 'GET', `${CUSTOMERS}/${UNKNOWN_ID}`],
    ['updateCustomer', 'PATCH', `${CUSTOMERS}/${UNKNOWN_ID}`],
    ['deleteCustomer', 'DELETE', `${CUSTOMERS}/${UNKNOWN_ID}`],
  ] as const;
  for (const [operationId, method, path] of requests) {
    assert.ok(kapso().documents(operationId, 401), `${operationId} documents 401`);
    for (const key of [null, 'pk_wrong_key']) {
      const body = method === 'POST' || method === 'PATCH' ? { customer: { name: 'x' } } : undefined;
      const response = await t.request({ method, url: path, key, body });
      assert.equal(conforms(operationId, response, 401).error, 'Missing or invalid API key');
    }
  }
});

test('pagination errors are ErrorResponse bodies', async () => {
  for (const query of ['page=0', 'per_page=0', 'page=abc', 'per_page=-5']) {
    const response = await t.request({ method: 'GET', url: `${CUSTOMERS}?${query}` });
    assert.equal(response.status, 400, `${query}: ${response.text}`);
    kapso().assertComponent('ErrorResponse', response.body);
  }
  const response = await t.request({ method: 'GET', url: `${CUSTOMERS}?created_after=yesterday` });
  assert.equal(response.status, 422, response.text);
  kapso().assertComponent('ErrorResponse', response.body);
});
