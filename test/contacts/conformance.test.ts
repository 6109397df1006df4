// Every contacts operation through the real app, each answer checked against the response schema
// Kapso's OpenAPI document gives for that operation and status (test/helpers/kapso-oracle.ts).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
// Every test here is about Kapso's document: `test` skips, with the reason, when it is absent.
import { kapsoOracle, kapsoTest as test } from '../helpers/kapso-oracle.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const LIST = 'listWhatsappContactsPlatform';
const CREATE = 'createWhatsappContactPlatform';
const GET = 'getWhatsappContactPlatform';
const UPDATE = 'updateWhatsappContactPlatform';
const ERASE = 'eraseWhatsappContact';
const UNKNOWN_ID = '9b2f3c1e-1111-4222-8333-944455556666';

const kapso = () => kapsoOracle();
const url = (identifier: string) => `${CONTACTS}/${encodeURIComponent(identifier)}`;

let t: TestApp;
let customerId: string;
let projectId: string;
before(async () => {
  t = await startTestApp();
  const customer = await t.request({ method: 'POST', url: '/platform/v1/customers', body: { customer: { name: 'Acme Corp', external_customer_id: 'cus_acme_1' } } });
  assert.equal(customer.status, 201, customer.text);
  customerId = customer.body.data.id;
  const project = await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow();
  projectId = project.id;
});
after(async () => t?.close());

/** The status, then the body against Kapso's schema for that operation and status. */
function conforms(operationId: string, response: TestResponse, status: number): any {
  assert.equal(response.status, status, `${operationId}: ${response.text}`);
  kapso().assertResponse(operationId, status, response.body);
  return response.body;
}

function assertKapsoFields(contact: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(contact).sort(), kapso().componentProperties('WhatsappContact').sort(), 'exactly the fields Kapso documents');
}

async function create(contact: Record<string, unknown>): Promise<Record<string, any>> {
  const body = conforms(CREATE, await t.request({ method: 'POST', url: CONTACTS, body: { contact } }), 201);
  assertKapsoFields(body.data);
  return body.data;
}

const validContact = {
  id: '123e4567-e89b-12d3-a456-426614174000',
  wa_id: '15551234567',
  business_scoped_user_id: null,
  parent_business_scoped_user_id: null,
  username: null,
  profile_name: 'John Doe',
  display_name: null,
  customer_id: null,
  metadata: { segment: 'vip' },
  created_at: '2025-03-26T15:05:00.000000Z',
  updated_at: '2025-03-26T15:05:00.000000Z',
};

test('the oracle rejects bodies that break Kapso’s schema, so the checks below cannot pass vacuously', () => {
  const oracle = kapso();
  const rejects = (operationId: string, status: number, body: unknown, path: string) => {
    const errors = oracle.check(operationId, status, body);
    assert.ok(errors.length > 0, `${operationId} ${status} must reject ${JSON.stringify(body)}`);
    assert.ok(errors.some((e) => e.instancePath === path), `an error at ${path}: ${JSON.stringify(errors)}`);
  };
  assert.deepEqual(oracle.check(GET, 200, { data: validContact }), []);
  rejects(GET, 200, { data: { ...validContact, id: 'contact-1' } }, '/data/id');
  rejects(GET, 200, { data: { ...validContact, id: null } }, '/data/id');
  rejects(GET, 200, { data: { ...validContact, created_at: '26/03/2025' } }, '/data/created_at');
  rejects(GET, 200, { data: { ...validContact, customer_id: 'cus_1' } }, '/data/customer_id');
  rejects(GET, 200, { data: { ...validContact, display_name: 42 } }, '/data/display_name');
  rejects(GET, 200, { data: { ...validContact, wa_id: 15551234567 } }, '/data/wa_id');
  rejects(GET, 200, { data: { ...validContact, metadata: ['vip'] } }, '/data/metadata');
  rejects(GET, 200, { contact: validContact }, '');
  rejects(UPDATE, 200, { data: { ...validContact, profile_name: 7 } }, '/data/profile_name');
  rejects(LIST, 200, { data: validContact }, '/data');
  rejects(LIST, 200, { data: [], meta: { page: 0, per_page: 20, total_pages: 0, total_count: 0 } }, '/meta/page');
  rejects(LIST, 200, { data: [], paging: { cursors: {}, next: 5, previous: null } }, '/paging/next');
  rejects(GET, 404, { message: 'Contact not found' }, '');
  rejects(GET, 404, { error: 404 }, '/error');
  // The one documented deviation: profile_name may be null, and only profile_name.
  assert.deepEqual(oracle.check(GET, 200, { data: { ...validContact, profile_name: null } }), []);
  rejects('getCustomer', 200, { data: { id: validContact.id, name: null, created_at: validContact.created_at, updated_at: validContact.updated_at } }, '/data/name');
});

test('create a contact with a customer and metadata: 201 as Kapso documents it', async () => {
  const metadata = { segment: 'vip', tags: ['b2b', 'früh'], score: 4.5, address: { city: 'São Paulo', zip: null }, opted_in: true };
  const contact = await create({ wa_id: '+55 11 98765-4321', profile_name: 'Zoë Ångström', display_name: 'Zoë (VIP) 🌟', customer_id: customerId, metadata });
  assert.equal(contact.wa_id, '5511987654321');
  assert.equal(contact.customer_id, customerId);
  assert.deepEqual(contact.metadata, metadata);
  assert.equal(contact.business_scoped_user_id, null);
});

test('create a contact with only wa_id: every other field null and still conforming', async () => {
  const contact = await create({ wa_id: '+44 20 7946 0958' });
  for (const field of ['profile_name', 'display_name', 'customer_id', 'metadata', 'username', 'business_scoped_user_id', 'parent_business_scoped_user_id']) {
    assert.equal(contact[field], null, field);
  }
});

test('get by uuid, phone in several written forms, BSUID and parent BSUID', async () => {
  const contact = await create({ wa_id: '15550100001', profile_name: 'Jane Smith' });
  for (const identifier of [contact.id, contact.id.toUpperCase(), '15550100001', '+1 555-010-0001', '+1 (555) 010-0001']) {
    const body = conforms(GET, await t.request({ method: 'GET', url: url(identifier) }), 200);
    assert.equal(body.data.id, contact.id, identifier);
    assertKapsoFields(body.data);
  }
  // Contacts as Meta traffic leaves them: BSUIDs and a username, one without any phone number.
  await sql`INSERT INTO contacts (project_id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name)
            VALUES (${projectId}, NULL, 'US.13491208655302741918', 'US.ENT.506847293015824', '@testusername', 'BSUID Only')`.execute(t.database.db);
  for (const identifier of ['US.13491208655302741918', 'US.ENT.506847293015824']) {
    const body = conforms(GET, await t.request({ method: 'GET', url: url(identifier) }), 200);
    assert.equal(body.data.wa_id, null);
    assert.equal(body.data.username, '@testusername');
    assertKapsoFields(body.data);
  }
});

test('update with application/json and with application/merge-patch+json', async () => {
  const contact = await create({ wa_id: '15550100002', metadata: { plan: 'free', source: 'ads' } });
  const replaced = conforms(UPDATE, await t.request({ method: 'PATCH', url: url(contact.id), body: { contact: { profile_name: 'Renée', metadata: { plan: 'pro' } } } }), 200);
  assert.deepEqual(replaced.data.metadata, { plan: 'pro' });
  const merged = conforms(
    UPDATE,
    await t.request({
      method: 'PATCH',
      url: url('+1 555 010 0002'),
      headers: { 'content-type': 'application/merge-patch+json' },
      body: { contact: { display_name: 'R.', customer_id: customerId, metadata: { seats: 3, plan: null } } },
    }),
    200,
  );
  assert.deepEqual(merged.data.metadata, { seats: 3 });
  assert.equal(merged.data.customer_id, customerId);
  assertKapsoFields(merged.data);
  // Sending the read-only fields back unchanged is accepted, and still conforms.
  conforms(UPDATE, await t.request({ method: 'PATCH', url: url(contact.id), body: { contact: { ...merged.data } } }), 200);
});

test('update that clears every nullable writable field', async () => {
  const contact = await create({ wa_id: '15550100003', profile_name: 'P', display_name: 'D', customer_id: customerId, metadata: { a: 1 } });
  const body = conforms(UPDATE, await t.request({ method: 'PATCH', url: url(contact.id), body: { contact: { profile_name: null, display_name: null, customer_id: null, metadata: null } } }), 200);
  for (const field of ['profile_name', 'display_name', 'customer_id', 'metadata']) assert.equal(body.data[field], null, field);
});

test('list in cursor mode: every page conforms, paging only, no offset headers', async () => {
  for (let i = 0; i < 4; i++) await create({ wa_id: `1555020000${i}`, profile_name: `Cursor ${i}` });
  const seen: string[] = [];
  let next: string | null = null;
  let lastBefore: string | undefined;
  let pages = 0;
  do {
    const query: string = next === null ? 'limit=2' : `limit=2&after=${encodeURIComponent(next)}`;
    const response = await t.request({ method: 'GET', url: `${CONTACTS}?${query}` });
    const body = conforms(LIST, response, 200);
    assert.equal(body.meta, undefined, 'cursor mode has no meta');
    assert.ok(body.paging, 'cursor mode has paging');
    for (const header of ['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'link']) assert.equal(response.headers[header], undefined, `${header} only in offset mode`);
    if (pages === 0) assert.equal(body.paging.previous, null);
    body.data.forEach((c: Record<string, unknown>) => assertKapsoFields(c));
    seen.push(...body.data.map((c: { id: string }) => c.id));
    next = body.paging.next;
    lastBefore = body.paging.cursors?.before;
    pages += 1;
  } while (next !== null && pages < 50);
  const total = (await t.request({ method: 'GET', url: `${CONTACTS}?page=1&per_page=1` })).body.meta.total_count;
  assert.equal(new Set(seen).size, seen.length, 'no contact twice');
  assert.equal(seen.length, total, 'every contact once');
  // Walking back from the last page with `before` conforms too.
  assert.ok(lastBefore, 'the last page has a before cursor');
  const back = conforms(LIST, await t.request({ method: 'GET', url: `${CONTACTS}?limit=2&before=${encodeURIComponent(lastBefore)}` }), 200);
  assert.equal(back.data.length, 2);
  assert.deepEqual(back.data.map((c: { id: string }) => c.id), seen.slice(-2 - (seen.length % 2 || 2), -(seen.length % 2 || 2)));
});

test('list in offset mode: body, meta and the headers Kapso documents', async () => {
  const first = await t.request({ method: 'GET', url: `${CONTACTS}?page=1&per_page=2` });
  const body = conforms(LIST, first, 200);
  assert.equal(body.paging, undefined, 'offset mode has no paging');
  kapso().assertHeaders(LIST, 200, first.headers);
  const { page, per_page, total_pages, total_count } = body.meta;
  assert.deepEqual([page, per_page], [1, 2]);
  assert.ok(total_count >= 8, `total_count ${total_count}`);
  assert.equal(total_pages, Math.ceil(total_count / 2));
  assert.deepEqual([first.headers['x-total'], first.headers['x-total-pages'], first.headers['x-per-page'], first.headers['x-page']], [String(total_count), String(total_pages), '2', '1']);
  const link = String(first.headers.link);
  for (const rel of ['first', 'next', 'last']) assert.match(link, new RegExp(`<[^>]*per_page=2[^>]*>; rel="${rel}"`), link);
  assert.doesNotMatch(link, /rel="prev"/);

  const second = await t.request({ method: 'GET', url: `${CONTACTS}?page=2&per_page=2` });
  conforms(LIST, second, 200);
  kapso().assertHeaders(LIST, 200, second.headers);
  assert.match(String(second.headers.link), /rel="prev"/);
  assert.equal(second.body.data.length, 2);
  assert.notDeepEqual(second.body.data.map((c: { id: string }) => c.id), body.data.map((c: { id: string }) => c.id));

  const beyond = await t.request({ method: 'GET', url: `${CONTACTS}?page=${total_pages + 1}&per_page=2` });
  assert.deepEqual(conforms(LIST, beyond, 200).data, []);
  kapso().assertHeaders(LIST, 200, beyond.headers);
});

test('list with filters: each answer conforms and honours its filter', async () => {
  const cases: [string, (c: any) => boolean][] = [
    [`customer_id=${customerId}`, (c) => c.customer_id === customerId],
    ['customer_external_id=cus_acme_1', (c) => c.customer_id === customerId],
    ['has_customer=true', (c) => c.customer_id !== null],
    ['has_customer=false', (c) => c.customer_id === null],
    ['profile_name_contains=zOË', (c) => /zoë/i.test(c.profile_name)],
    ['wa_id_contains=555020', (c) => c.wa_id.includes('555020')],
    ['business_scoped_user_id=US.13491208655302741918', (c) => c.business_scoped_user_id === 'US.13491208655302741918'],
    [`created_after=${encodeURIComponent('2000-01-01T00:00:00Z')}`, () => true],
    [`created_before=${encodeURIComponent('2000-01-01T00:00:00Z')}`, () => false],
  ];
  for (const [query, holds] of cases) {
    for (const mode of ['limit=100', 'page=1&per_page=100']) {
      const body = conforms(LIST, await t.request({ method: 'GET', url: `${CONTACTS}?${query}&${mode}` }), 200);
      assert.ok(body.data.every(holds), `${query}: ${JSON.stringify(body.data)}`);
      if (!query.startsWith('created_before')) assert.ok(body.data.length > 0, `${query} finds something`);
    }
  }
});

test('legacy offset limits: 400 with exactly the body Kapso documents', async () => {
  const validate = kapso().responseValidator(LIST, 400);
  const documented = Object.keys((validate.schema as { properties: object }).properties).sort();
  for (const [page, perPage] of [[51, 100], [1, 101], [50, 101], [26, 200]] as const) {
    const response = await t.request({ method: 'GET', url: `${CONTACTS}?page=${page}&per_page=${perPage}` });
    const body = conforms(LIST, response, 400);
    // Kapso's 400 schema requires nothing, so presence is checked here: every documented field.
    assert.deepEqual(Object.keys(body).sort(), documented);
    assert.equal(body.message, 'legacy_offset_pagination_limit_exceeded');
    assert.deepEqual([body.requested_page, body.requested_per_page, body.requested_window, body.max_page, body.max_window], [page, perPage, page * perPage, 50, 5000]);
    assert.match(body.cursor_example, /\/platform\/v1\/whatsapp\/contacts\?limit=100$/);
  }
});

test('other list errors are ErrorResponse bodies (bad cursor 400, filter 422)', async () => {
  const cursor = Buffer.from(JSON.stringify({ values: ['2025-03-26T15:05:00.000000Z', UNKNOWN_ID], columns: ['created_at', 'id'] })).toString('base64');
  for (const [query, status] of [
    ['after=not-a-cursor', 400],
    [`after=${cursor}&before=${cursor}`, 400],
    ['limit=0', 400],
    ['limit=101', 400],
    ['customer_id=cus_1', 422],
    ['created_after=yesterday', 422],
    ['wa_id_contains=abc', 422],
  ] as const) {
    const response = await t.request({ method: 'GET', url: `${CONTACTS}?${query}` });
    assert.equal(response.status, status, `${query}: ${response.text}`);
    kapso().assertComponent('ErrorResponse', response.body);
  }
});

test('404 bodies as documented for get, update and erase', async () => {
  for (const identifier of [UNKNOWN_ID, '+1 555 999 0000', 'US.NOSUCHBSUID', 'US.ENT.NOSUCHPARENT']) {
    const get = await t.request({ method: 'GET', url: url(identifier) });
    assert.equal(conforms(GET, get, 404).error, 'Contact not found');
    const patch = await t.request({ method: 'PATCH', url: url(identifier), body: { contact: { display_name: 'x' } } });
    assert.equal(conforms(UPDATE, patch, 404).error, 'Contact not found');
    const erase = await t.request({ method: 'DELETE', url: url(identifier) });
    assert.equal(conforms(ERASE, erase, 404).error, 'Contact not found');
  }
});

test('422 bodies: create, erase with a non-number, and update (ErrorResponse)', async () => {
  const existing = await create({ wa_id: '15550300001' });
  for (const contact of [{ wa_id: 'not a phone' }, { wa_id: '15550300001' }, { profile_name: 'no number' }, { wa_id: '15550300002', customer_id: UNKNOWN_ID }, { wa_id: '15550300003', extra: 1 }]) {
    const response = await t.request({ method: 'POST', url: CONTACTS, body: { contact } });
    conforms(CREATE, response, 422);
  }
  const erase = await t.request({ method: 'DELETE', url: url('hello world') });
  assert.equal(conforms(ERASE, erase, 422).error, 'Invalid phone number');
  // Kapso documents no 422 for update; the body is still the ErrorResponse every error has.
  for (const contact of [{ wa_id: 'nope' }, { customer_id: UNKNOWN_ID }, { id: UNKNOWN_ID }, { colour: 'red' }, { metadata: [1] }]) {
    const response = await t.request({ method: 'PATCH', url: url(existing.id), body: { contact } });
    assert.equal(response.status, 422, response.text);
    assert.equal(kapso().assertError(UPDATE, 422, response.body), 'ErrorResponse');
  }
});

test('401 bodies for every operation, without a key and with a wrong one', async () => {
  const requests = [
    [LIST, 'GET', CONTACTS],
    [CREATE, 'POST', CONTACTS],
    [GET, 'GET', url(UNKNOWN_ID)],
    [UPDATE, 'PATCH', url(UNKNOWN_ID)],
    [ERASE, 'DELETE', url(UNKNOWN_ID)],
  ] as const;
  for (const [operationId, method, path] of requests) {
    for (const key of [null, 'pk_wrong_key']) {
      const body = method === 'POST' || method === 'PATCH' ? { contact: { wa_id: '15550400001' } } : undefined;
      const response = await t.request({ method, url: path, key, body });
      assert.equal(response.status, 401, `${operationId}: ${response.text}`);
      kapso().assertError(operationId, 401, response.body);
      assert.equal(response.body.error, 'Missing or invalid API key');
    }
  }
  assert.equal(kapso().documents(LIST, 401), true, 'the list documents its 401');
});

test('erase: 204 with an empty body, then the contact is gone', async () => {
  const contact = await create({ wa_id: '15550500001', metadata: { bye: true } });
  assert.equal(kapso().hasBody(ERASE, 204), false);
  const response = await t.request({ method: 'DELETE', url: url('+1 555-050-0001') });
  assert.equal(response.status, 204, response.text);
  assert.equal(response.text, '');
  conforms(GET, await t.request({ method: 'GET', url: url(contact.id) }), 404);
});
