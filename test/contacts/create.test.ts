// POST /platform/v1/whatsapp/contacts through the whole HTTP stack, on a real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import {
  assertContactShape,
  assertError,
  CONTACTS,
  countContacts,
  createContact,
  freshWaId,
  getContact,
  metadataOfDepth,
  metadataOfSize,
  newContact,
  newCustomer,
  usStyle,
} from '../helpers/contacts.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

const waId = () => freshWaId(1);

test('201 with every field present, null where empty, timestamps with microseconds', async () => {
  const number = waId();
  const response = await createContact(t, { wa_id: number });
  assert.equal(response.status, 201, response.text);
  assert.deepEqual(Object.keys(response.body), ['data']);
  const contact = response.body.data;
  assertContactShape(contact);
  assert.equal(contact.wa_id, number);
  for (const field of ['business_scoped_user_id', 'parent_business_scoped_user_id', 'username', 'profile_name', 'display_name', 'customer_id', 'metadata']) {
    assert.equal(contact[field], null, `${field} is null`);
  }
  const created = Date.parse(contact.created_at);
  assert.ok(Math.abs(created - Date.now()) < 60_000, 'created_at is now');
  assert.ok(Date.parse(contact.updated_at) >= created);
  // What was stored is what was answered.
  const got = await getContact(t, contact.id);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body.data, contact);
});

test('201 echoes every writable field and GET returns the same', async () => {
  const customerId = await newCustomer(t, 'Echo Inc');
  const metadata = { plan: 'pro', tags: ['a', 'b'], nested: { n: 1, ok: true, none: null }, unicode: 'héllo ✓' };
  const response = await createContact(t, { wa_id: usStyle(waId()), profile_name: 'Ana', display_name: 'Ana (VIP)', customer_id: customerId, metadata });
  assert.equal(response.status, 201, response.text);
  const contact = response.body.data;
  assertContactShape(contact);
  assert.equal(contact.profile_name, 'Ana');
  assert.equal(contact.display_name, 'Ana (VIP)');
  assert.equal(contact.customer_id, customerId);
  assert.deepEqual(contact.metadata, metadata);
  assert.deepEqual((await getContact(t, contact.id)).body.data, contact);
});

test('wa_id is normalised to E.164 digits from many written forms', async () => {
  const forms: [string, string][] = [
    ['+1 555-123-4567', '15551234567'],
    ['15551234568', '15551234568'],
    ['+15551234569', '15551234569'],
    ['+1 (555) 123-4570', '15551234570'],
    ['1.555.123.4571', '15551234571'],
    ['  +1 555 123 4572  ', '15551234572'],
    ['+1/555/123/4573', '15551234573'],
    ['0044 20 7946 0958', '442079460958'],
    ['+44 20 7946 0959', '442079460959'],
    ['+55 11 98765-4321', '5511987654321'],
    ['+91 98765 43210', '919876543210'],
    ['0049 30 1234567', '49301234567'],
  ];
  for (const [written, expected] of forms) {
    const response = await createContact(t, { wa_id: written });
    assert.equal(response.status, 201, `${written}: ${response.text}`);
    assert.equal(response.body.data.wa_id, expected, written);
    assert.equal((await getContact(t, expected)).body.data.id, response.body.data.id, `${written} is found by its digits`);
  }
});

test("Meta's test numbers (+1 555 …) are accepted although not valid in the numbering plan", async () => {
  for (const written of ['+1 555 000 0001', '+1 555 999 9999', '1 555 555 0100']) {
    const response = await createContact(t, { wa_id: written });
    assert.equal(response.status, 201, `${written}: ${response.text}`);
    assert.equal(response.body.data.wa_id, written.replace(/\D/g, ''));
  }
});

test('a number that cannot be a phone number → 422 naming contact.wa_id, nothing created', async () => {
  const before = await countContacts(t);
  const impossible = ['', '   ', 'abc', 'not a number', '123', '+1 555', '+44 1', '+999 1234567', '1234567890123456', '+1 555 123 45678', '15551234567x', '+1 555 123 4567 ext 9', '++15551234567'];
  for (const written of impossible) {
    assertError(await createContact(t, { wa_id: written }), 422, 'contact.wa_id');
  }
  assert.equal(await countContacts(t), before);
});

test('"(555) 123-4567" without a country code → 422', async () => {
  assertError(await createContact(t, { wa_id: '(555) 123-4567' }), 422, 'contact.wa_id');
});

test('a number already used in any written form → 422 naming contact.wa_id', async () => {
  const number = waId();
  const first = await newContact(t, { wa_id: number });
  for (const written of [number, `+${number}`, usStyle(number), `00${number}`, `${number.slice(0, 4)}.${number.slice(4)}`]) {
    const response = await createContact(t, { wa_id: written, profile_name: 'Second' });
    assertError(response, 422, 'contact.wa_id');
  }
  const got = await getContact(t, number);
  assert.equal(got.body.data.id, first.id);
  assert.equal(got.body.data.profile_name, null);
});

test('the same number may exist in another project', async () => {
  const number = waId();
  const alpha = await newContact(t, { wa_id: number });
  const beta = await createContact(t, { wa_id: usStyle(number) }, { key: t.otherKey });
  assert.equal(beta.status, 201, beta.text);
  assert.equal(beta.body.data.wa_id, number);
  assert.notEqual(beta.body.data.id, alpha.id);
  // Each project sees its own.
  assert.equal((await getContact(t, number)).body.data.id, alpha.id);
  const seenByBeta = await t.request({ method: 'GET', url: `${CONTACTS}/${number}`, key: t.otherKey });
  assert.equal(seenByBeta.body.data.id, beta.body.data.id);
});

test('customer_id of another project or unknown → 422 naming contact.customer_id', async () => {
  const foreign = await newCustomer(t, 'Beta customer', t.otherKey);
  const before = await countContacts(t);
  assertError(await createContact(t, { wa_id: waId(), customer_id: foreign }), 422, 'contact.customer_id');
  assertError(await createContact(t, { wa_id: waId(), customer_id: '00000000-0000-4000-8000-000000000000' }), 422, 'contact.customer_id');
  assertError(await createContact(t, { wa_id: waId(), customer_id: 'not-a-uuid' }), 422, 'contact.customer_id');
  assert.equal(await countContacts(t), before);
  // customer_id null is allowed and stays null.
  const ok = await createContact(t, { wa_id: waId(), customer_id: null });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.data.customer_id, null);
});

test('missing, mistyped and unknown fields → 422 naming the field', async () => {
  const cases: [unknown, string][] = [
    [{}, 'contact'],
    [{ contact: null }, 'contact'],
    [{ contact: 'x' }, 'contact'],
    [{ contact: {} }, 'contact.wa_id'],
    [{ contact: { profile_name: 'No number' } }, 'contact.wa_id'],
    [{ contact: { wa_id: 15551234567 } }, 'contact.wa_id'],
    [{ contact: { wa_id: null } }, 'contact.wa_id'],
    [{ contact: { wa_id: waId(), profile_name: 5 } }, 'contact.profile_name'],
    [{ contact: { wa_id: waId(), display_name: ['x'] } }, 'contact.display_name'],
    [{ contact: { wa_id: waId(), display_name: 'x'.repeat(257) } }, 'contact.display_name'],
    [{ contact: { wa_id: waId(), customer_id: 7 } }, 'contact.customer_id'],
    [{ contact: { wa_id: waId(), metadata: [] } }, 'contact.metadata'],
    [{ contact: { wa_id: waId(), metadata: 'text' } }, 'contact.metadata'],
    [{ contact: { wa_id: waId(), nickname: 'x' } }, 'contact.nickname'],
    [{ contact: { wa_id: waId(), id: '00000000-0000-4000-8000-000000000000' } }, 'contact.id'],
    [{ contact: { wa_id: waId(), business_scoped_user_id: 'US.1' } }, 'contact.business_scoped_user_id'],
    [{ contact: { wa_id: waId() }, extra: true }, 'extra'],
    [[], 'body'],
  ];
  const before = await countContacts(t);
  for (const [body, field] of cases) {
    assertError(await t.request({ method: 'POST', url: CONTACTS, body }), 422, field);
  }
  assert.equal(await countContacts(t), before);
});

test('malformed JSON → 400, body over 1 MiB → 413, text/plain → 415', async () => {
  const json = { 'content-type': 'application/json' };
  assertError(await t.request({ method: 'POST', url: CONTACTS, rawBody: '{"contact":{"wa_id":', headers: json }), 400);
  assertError(await t.request({ method: 'POST', url: CONTACTS, rawBody: "{'contact':1}", headers: json }), 400);
  const huge = JSON.stringify({ contact: { wa_id: waId(), metadata: { blob: 'x'.repeat(1024 * 1024) } } });
  assertError(await t.request({ method: 'POST', url: CONTACTS, rawBody: huge, headers: json }), 413);
  const plain = JSON.stringify({ contact: { wa_id: waId() } });
  assertError(await t.request({ method: 'POST', url: CONTACTS, rawBody: plain, headers: { 'content-type': 'text/plain' } }), 415);
  assertError(await t.request({ method: 'POST', url: CONTACTS, rawBody: plain, headers: { 'content-type': 'application/xml' } }), 415);
});

test('metadata: 16 KiB and depth 8 are accepted, one byte or one level more → 422', async () => {
  const atSize = await createContact(t, { wa_id: waId(), metadata: metadataOfSize(16 * 1024) });
  assert.equal(atSize.status, 201, atSize.text);
  assert.deepEqual(atSize.body.data.metadata, metadataOfSize(16 * 1024));
  assertError(await createContact(t, { wa_id: waId(), metadata: metadataOfSize(16 * 1024 + 1) }), 422, 'contact.metadata');
  // Bytes, not characters: 6000 three-byte characters are 18000 bytes.
  assertError(await createContact(t, { wa_id: waId(), metadata: { k: '✓'.repeat(6000) } }), 422, 'contact.metadata');

  const atDepth = await createContact(t, { wa_id: waId(), metadata: metadataOfDepth(8) });
  assert.equal(atDepth.status, 201, atDepth.text);
  assert.deepEqual(atDepth.body.data.metadata, metadataOfDepth(8));
  assertError(await createContact(t, { wa_id: waId(), metadata: metadataOfDepth(9) }), 422, 'contact.metadata');
  // Arrays count as levels too.
  let deep: unknown = [];
  for (let i = 1; i < 8; i++) deep = [deep];
  assertError(await createContact(t, { wa_id: waId(), metadata: { a: deep } }), 422, 'contact.metadata');
});

test('missing or unknown API key → 401', async () => {
  assertError(await createContact(t, { wa_id: waId() }, { key: null }), 401);
  assertError(await createContact(t, { wa_id: waId() }, { key: 'prl_AAAAAAAA_' + 'a'.repeat(43) }), 401);
});

test('Idempotency-Key: same key and body replays status and body, creating one contact', async () => {
  const key = `create-${waId()}`;
  const contact = { wa_id: waId(), profile_name: 'Once', metadata: { a: 1, b: [1, 2] } };
  const before = await countContacts(t);
  const first = await createContact(t, contact, { headers: { 'idempotency-key': key } });
  assert.equal(first.status, 201, first.text);
  assert.equal(first.headers['idempotent-replayed'], undefined);

  // Same body with its keys in another order is the same request.
  const reordered = { metadata: { b: [1, 2], a: 1 }, profile_name: 'Once', wa_id: contact.wa_id };
  for (const body of [contact, reordered]) {
    const again = await createContact(t, body, { headers: { 'idempotency-key': key } });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.etag, first.headers.etag, 'a replay carries the ETag of the original 201');
  }
  assert.equal(await countContacts(t), before + 1);

  // Without the key the same body is a new request: the number is taken.
  assertError(await createContact(t, contact), 422, 'contact.wa_id');
});

test('Idempotency-Key: same key with a different body → 422, nothing created', async () => {
  const key = `diff-${waId()}`;
  const first = await createContact(t, { wa_id: waId() }, { headers: { 'idempotency-key': key } });
  assert.equal(first.status, 201);
  const before = await countContacts(t);
  const other = waId();
  const response = await createContact(t, { wa_id: other }, { headers: { 'idempotency-key': key } });
  assertError(response, 422, 'Idempotency-Key');
  assert.notEqual(response.headers['idempotent-replayed'], 'true');
  assert.equal(await countContacts(t), before);
  assert.equal((await getContact(t, other)).status, 404);
});

test('Idempotency-Key: a first answer of 422 is replayed as well', async () => {
  const key = `bad-${waId()}`;
  const first = await createContact(t, { wa_id: 'abc' }, { headers: { 'idempotency-key': key } });
  assertError(first, 422, 'contact.wa_id');
  const again = await createContact(t, { wa_id: 'abc' }, { headers: { 'idempotency-key': key } });
  assertError(again, 422, 'contact.wa_id');
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.deepEqual(again.body, first.body);
});

test('Idempotency-Key: keys are per project', async () => {
  const key = `shared-${waId()}`;
  const number = waId();
  const alpha = await createContact(t, { wa_id: number }, { headers: { 'idempotency-key': key } });
  const beta = await createContact(t, { wa_id: number }, { key: t.otherKey, headers: { 'idempotency-key': key } });
  assert.equal(alpha.status, 201);
  assert.equal(beta.status, 201, beta.text);
  assert.equal(beta.headers['idempotent-replayed'], undefined);
  assert.notEqual(beta.body.data.id, alpha.body.data.id);
});

test('Idempotency-Key: 1 to 255 characters; 256 → 422 naming the header', async () => {
  const longest = 'k'.repeat(255);
  const ok = await createContact(t, { wa_id: waId() }, { headers: { 'idempotency-key': longest } });
  assert.equal(ok.status, 201, ok.text);
  const before = await countContacts(t);
  const tooLong = await createContact(t, { wa_id: waId() }, { headers: { 'idempotency-key': 'k'.repeat(256) } });
  assertError(tooLong, 422, 'idempotency-key');
  assertError(await createContact(t, { wa_id: waId() }, { headers: { 'idempotency-key': '' } }), 422, 'idempotency-key');
  assert.equal(await countContacts(t), before);
});
