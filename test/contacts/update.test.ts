// PATCH /platform/v1/whatsapp/contacts/{identifier}, and the ETag of single-contact responses,
// through the whole HTTP stack on a real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import {
  assertContactShape,
  assertError,
  contactUrl,
  freshWaId,
  getContact,
  metadataOfDepth,
  metadataOfSize,
  newContact,
  newCustomer,
  patchContact,
  usStyle,
} from '../helpers/contacts.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

const waId = () => freshWaId(2);
const LIMIT = 16 * 1024;

async function stored(identifier: string): Promise<Record<string, any>> {
  const response = await getContact(t, identifier);
  assert.equal(response.status, 200, response.text);
  return response.body.data;
}

async function etagOf(identifier: string): Promise<string> {
  const etag = (await getContact(t, identifier)).headers.etag;
  assert.equal(typeof etag, 'string');
  return etag as string;
}

async function fullContact(): Promise<Record<string, any>> {
  const customerId = await newCustomer(t, 'Full');
  return newContact(t, { wa_id: waId(), profile_name: 'Pat', display_name: 'Patricia', customer_id: customerId, metadata: { a: 1, b: { c: 2 } } });
}

test('absent fields stay as they are', async () => {
  const contact = await fullContact();
  const response = await patchContact(t, contact.id, { display_name: 'Pat B.' });
  assert.equal(response.status, 200, response.text);
  assertContactShape(response.body.data);
  assert.deepEqual(response.body.data, { ...contact, display_name: 'Pat B.', updated_at: response.body.data.updated_at });
  assert.deepEqual(await stored(contact.id), response.body.data);
});

test('null clears every nullable writable field', async () => {
  const contact = await fullContact();
  const response = await patchContact(t, contact.id, { profile_name: null, display_name: null, customer_id: null, metadata: null });
  assert.equal(response.status, 200, response.text);
  const after = await stored(contact.id);
  for (const field of ['profile_name', 'display_name', 'customer_id', 'metadata']) assert.equal(after[field], null, field);
  assert.equal(after.wa_id, contact.wa_id);
});

test('application/json replaces metadata whole', async () => {
  const contact = await newContact(t, { metadata: { a: 1, b: { c: 2, e: 5 } } });
  const response = await patchContact(t, contact.id, { metadata: { b: { d: 3 } } });
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.body.data.metadata, { b: { d: 3 } });
  assert.deepEqual((await stored(contact.id)).metadata, { b: { d: 3 } });
});

test('application/merge-patch+json merges recursively and null removes a key', async () => {
  const contact = await newContact(t, { metadata: { a: 1, b: { c: 2, e: 5 }, list: [1, 2, 3], z: 'keep' } });
  const response = await patchContact(t, contact.id, { metadata: { a: null, b: { c: null, d: 3 }, list: [9], n: { x: [1, { y: null }] }, gone: null } }, { merge: true });
  assert.equal(response.status, 200, response.text);
  // Arrays are values: replaced whole, their contents kept as sent.
  const expected = { b: { e: 5, d: 3 }, list: [9], n: { x: [1, { y: null }] }, z: 'keep' };
  assert.deepEqual(response.body.data.metadata, expected);
  assert.deepEqual((await stored(contact.id)).metadata, expected);

  // A patch that replaces an object with a scalar and a scalar with an object.
  const second = await patchContact(t, contact.id, { metadata: { b: 'flat', z: { deep: true } } }, { merge: true });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual((await stored(contact.id)).metadata, { b: 'flat', list: [9], n: { x: [1, { y: null }] }, z: { deep: true } });
});

test('merge-patch: into null metadata, with charset, and metadata null clears the object', async () => {
  const contact = await newContact(t, { profile_name: 'M' });
  const first = await patchContact(t, contact.id, { metadata: { a: { b: 1, c: null } } }, { headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' } });
  assert.equal(first.status, 200, first.text);
  assert.deepEqual((await stored(contact.id)).metadata, { a: { b: 1 } });
  // Other fields behave as with application/json.
  const second = await patchContact(t, contact.id, { display_name: 'D', profile_name: null }, { merge: true });
  assert.equal(second.status, 200, second.text);
  const now = await stored(contact.id);
  assert.equal(now.display_name, 'D');
  assert.equal(now.profile_name, null);
  assert.deepEqual(now.metadata, { a: { b: 1 } });
  const cleared = await patchContact(t, contact.id, { metadata: null }, { merge: true });
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal((await stored(contact.id)).metadata, null);
});

test('wa_id change is normalised, found by the new number, and the old one is free', async () => {
  const contact = await newContact(t);
  const next = waId();
  const response = await patchContact(t, contact.id, { wa_id: usStyle(next) });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.body.data.wa_id, next);
  assert.equal((await stored(`+${next}`)).id, contact.id);
  assert.equal((await getContact(t, contact.wa_id)).status, 404);
  const reuse = await newContact(t, { wa_id: contact.wa_id });
  assert.notEqual(reuse.id, contact.id);
});

test('wa_id already taken (in any written form) or impossible → 422 naming contact.wa_id, nothing written', async () => {
  const taken = await newContact(t);
  const contact = await newContact(t, { display_name: 'before' });
  for (const wa_id of [taken.wa_id, usStyle(taken.wa_id), `00${taken.wa_id}`]) {
    assertError(await patchContact(t, contact.id, { wa_id, display_name: 'after' }), 422, 'contact.wa_id');
  }
  for (const wa_id of ['abc', '(555) 123-4567', '+1 555', '']) {
    assertError(await patchContact(t, contact.id, { wa_id, display_name: 'after' }), 422, 'contact.wa_id');
  }
  assertError(await patchContact(t, contact.id, { wa_id: 15551234567 }), 422, 'contact.wa_id');
  const now = await stored(contact.id);
  assert.equal(now.wa_id, contact.wa_id);
  assert.equal(now.display_name, 'before');
  assert.equal(now.updated_at, contact.updated_at);
});

test('customer_id: own customer accepted, another project or unknown → 422', async () => {
  const contact = await newContact(t);
  const own = await newCustomer(t, 'Own');
  const ok = await patchContact(t, contact.id, { customer_id: own });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.data.customer_id, own);
  const foreign = await newCustomer(t, 'Foreign', t.otherKey);
  assertError(await patchContact(t, contact.id, { customer_id: foreign }), 422, 'contact.customer_id');
  assertError(await patchContact(t, contact.id, { customer_id: '00000000-0000-4000-8000-000000000000' }), 422, 'contact.customer_id');
  assertError(await patchContact(t, contact.id, { customer_id: 'nope' }), 422, 'contact.customer_id');
  assert.equal((await stored(contact.id)).customer_id, own);
});

test('read-only fields sent back unchanged are ignored', async () => {
  const contact = await fullContact();
  // The whole resource as GET gave it, with one change: what a client naturally sends.
  const response = await patchContact(t, contact.id, { ...contact, display_name: 'Round trip', id: contact.id.toUpperCase() });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.body.data.display_name, 'Round trip');
  assert.equal(response.body.data.id, contact.id);
  assert.equal(response.body.data.created_at, contact.created_at);
});

test('read-only fields with another value → 422 naming the field, nothing written', async () => {
  const contact = await newContact(t, { display_name: 'unchanged' });
  const changed: Record<string, unknown> = {
    id: '00000000-0000-4000-8000-000000000000',
    username: '@someone',
    business_scoped_user_id: 'US.13491208655302741918',
    parent_business_scoped_user_id: 'US.ENT.506847293015824',
    created_at: '2020-01-01T00:00:00.000000Z',
    updated_at: '2020-01-01T00:00:00.000000Z',
  };
  for (const [field, value] of Object.entries(changed)) {
    assertError(await patchContact(t, contact.id, { display_name: 'changed', [field]: value }), 422, `contact.${field}`);
  }
  const now = await stored(contact.id);
  assert.equal(now.display_name, 'unchanged');
  assert.deepEqual(now, contact);
});

test('unknown or mistyped field → 422 naming it; an empty contact is a no-op', async () => {
  const contact = await newContact(t);
  assertError(await patchContact(t, contact.id, { nickname: 'x' }), 422, 'contact.nickname');
  assertError(await patchContact(t, contact.id, { profile_name: 1 }), 422, 'contact.profile_name');
  assertError(await patchContact(t, contact.id, { metadata: [1] }), 422, 'contact.metadata');
  assertError(await t.request({ method: 'PATCH', url: contactUrl(contact.id), body: { display_name: 'x' } }), 422, 'contact');
  assertError(await t.request({ method: 'PATCH', url: contactUrl(contact.id), rawBody: '{"contact":', headers: { 'content-type': 'application/json' } }), 400);
  assertError(await t.request({ method: 'PATCH', url: contactUrl(contact.id), rawBody: '{"contact":{}}', headers: { 'content-type': 'text/plain' } }), 415);
  const noop = await patchContact(t, contact.id, {});
  assert.equal(noop.status, 200, noop.text);
  assert.deepEqual(noop.body.data, contact);
});

test('metadata limits on replace: 16 KiB and depth 8 pass, beyond → 422', async () => {
  const contact = await newContact(t);
  assert.equal((await patchContact(t, contact.id, { metadata: metadataOfSize(LIMIT) })).status, 200);
  assertError(await patchContact(t, contact.id, { metadata: metadataOfSize(LIMIT + 1) }), 422, 'contact.metadata');
  assert.equal((await patchContact(t, contact.id, { metadata: metadataOfDepth(8) })).status, 200);
  assertError(await patchContact(t, contact.id, { metadata: metadataOfDepth(9) }), 422, 'contact.metadata');
  assertError(await patchContact(t, contact.id, { metadata: metadataOfDepth(9) }, { merge: true }), 422, 'contact.metadata');
  assert.deepEqual((await stored(contact.id)).metadata, metadataOfDepth(8));
});

test('metadata limits on merge apply to the merged result: over 16 KiB → 422 and nothing written', async () => {
  const base = metadataOfSize(16_000, 'a');
  const contact = await newContact(t, { metadata: base, display_name: 'before' });
  const etag = await etagOf(contact.id);

  // Each half is small; together they exceed the limit.
  const overflow = { b: 'y'.repeat(LIMIT - JSON.stringify(base).length - 7 + 1) };
  assert.equal(JSON.stringify({ ...base, ...overflow }).length, LIMIT + 1);
  assertError(await patchContact(t, contact.id, { metadata: overflow, display_name: 'after' }, { merge: true }), 422, 'contact.metadata');
  const unchanged = await getContact(t, contact.id);
  assert.deepEqual(unchanged.body.data, contact);
  assert.equal(unchanged.headers.etag, etag);

  // Exactly at the limit is fine: the database counts bytes as the API does.
  const fits = { b: 'y'.repeat(overflow.b.length - 1) };
  const ok = await patchContact(t, contact.id, { metadata: fits }, { merge: true });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(JSON.stringify(ok.body.data.metadata).length, LIMIT);

  // Removing a key in the same patch makes room: the limit is on the result, not the sum.
  const swap = await patchContact(t, contact.id, { metadata: { a: null, b: null, c: 'z'.repeat(16_000) } }, { merge: true });
  assert.equal(swap.status, 200, swap.text);
  assert.deepEqual((await stored(contact.id)).metadata, { c: 'z'.repeat(16_000) });
});

test('unknown identifiers → 404 Contact not found; another project’s contact is 404 too', async () => {
  const foreign = await newContact(t, {}, t.otherKey);
  for (const identifier of ['00000000-0000-4000-8000-000000000000', '+1 555 999 0000', 'US.nobody', 'US.ENT.nobody', foreign.id, foreign.wa_id, 'hello']) {
    const response = await patchContact(t, identifier, { display_name: 'x' });
    assertError(response, 404);
    assert.equal(response.body.error, 'Contact not found');
  }
  const theirs = await t.request({ method: 'GET', url: contactUrl(foreign.id), key: t.otherKey });
  assert.equal(theirs.body.data.display_name, null);
});

test('PATCH by phone number in any written form', async () => {
  const contact = await newContact(t);
  for (const identifier of [contact.wa_id, `+${contact.wa_id}`, usStyle(contact.wa_id)]) {
    const response = await patchContact(t, identifier, { display_name: identifier });
    assert.equal(response.status, 200, `${identifier}: ${response.text}`);
    assert.equal(response.body.data.id, contact.id);
  }
});

test('ETag on GET and PATCH; If-None-Match on GET → 304', async () => {
  const contact = await newContact(t);
  const got = await getContact(t, contact.id);
  const etag = got.headers.etag as string;
  assert.match(etag, /^"[^"]+"$/, 'a strong, quoted entity tag');
  assert.equal((await getContact(t, contact.wa_id)).headers.etag, etag, 'same tag whatever the identifier');

  const notModified = await getContact(t, contact.id, { 'if-none-match': etag });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.text, '');
  assert.equal(notModified.headers.etag, etag);
  assert.equal((await getContact(t, contact.id, { 'if-none-match': `"other", ${etag}` })).status, 304);
  assert.equal((await getContact(t, contact.id, { 'if-none-match': '*' })).status, 304);
  assert.equal((await getContact(t, contact.id, { 'if-none-match': '"stale"' })).status, 200);

  const patched = await patchContact(t, contact.id, { display_name: 'New' });
  assert.equal(patched.status, 200);
  const newTag = patched.headers.etag as string;
  assert.match(newTag, /^"[^"]+"$/);
  assert.notEqual(newTag, etag);
  assert.equal((await getContact(t, contact.id)).headers.etag, newTag);
  const stale = await getContact(t, contact.id, { 'if-none-match': etag });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.data.display_name, 'New');
});

test('If-Match mismatch → 412 and nothing written; match → 200 with a new ETag', async () => {
  const contact = await newContact(t, { display_name: 'v1', metadata: { k: 1 } });
  const etag = await etagOf(contact.id);

  for (const ifMatch of ['"not-a-tag"', `"${contact.id}.999"`, 'garbage', `W/"x"`]) {
    const refused = await patchContact(t, contact.id, { display_name: 'v2', metadata: { k: 2 } }, { headers: { 'if-match': ifMatch } });
    assertError(refused, 412);
  }
  assertError(await patchContact(t, contact.id, { metadata: { k: 3 } }, { merge: true, headers: { 'if-match': '"nope"' } }), 412);
  assert.deepEqual(await stored(contact.id), contact);
  assert.equal(await etagOf(contact.id), etag);

  const ok = await patchContact(t, contact.id, { display_name: 'v2' }, { headers: { 'if-match': etag } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.data.display_name, 'v2');
  const newTag = ok.headers.etag as string;
  assert.notEqual(newTag, etag);

  // The old tag is now stale; a list containing the current one matches; so does *.
  assertError(await patchContact(t, contact.id, { display_name: 'v3' }, { headers: { 'if-match': etag } }), 412);
  const listed = await patchContact(t, contact.id, { display_name: 'v3' }, { headers: { 'if-match': `${etag}, ${newTag}` } });
  assert.equal(listed.status, 200, listed.text);
  const star = await patchContact(t, contact.id, { display_name: 'v4' }, { headers: { 'if-match': '*' } });
  assert.equal(star.status, 200, star.text);
  assert.equal((await stored(contact.id)).display_name, 'v4');
});

test('If-Match on an unknown contact → 404, not 412', async () => {
  const response = await patchContact(t, '00000000-0000-4000-8000-000000000000', { display_name: 'x' }, { headers: { 'if-match': '"x"' } });
  assertError(response, 404);
});

test('a no-op PATCH keeps updated_at and the ETag; a real change moves both', async () => {
  const contact = await fullContact();
  const etag = await etagOf(contact.id);
  const sameValues = [
    { display_name: contact.display_name, profile_name: contact.profile_name },
    { customer_id: contact.customer_id, metadata: { b: { c: 2 }, a: 1 } },
    { wa_id: usStyle(contact.wa_id) },
    { ...contact },
  ];
  for (const body of sameValues) {
    const response = await patchContact(t, contact.id, body);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.data.updated_at, contact.updated_at, JSON.stringify(body));
    assert.equal(response.headers.etag, etag, JSON.stringify(body));
  }
  const merged = await patchContact(t, contact.id, { metadata: { a: 1, missing: null } }, { merge: true });
  assert.equal(merged.status, 200, merged.text);
  assert.equal(merged.body.data.updated_at, contact.updated_at);
  assert.equal(merged.headers.etag, etag);
  assert.deepEqual(await stored(contact.id), contact);

  const changed = await patchContact(t, contact.id, { display_name: 'Different' });
  assert.equal(changed.status, 200);
  assert.ok(changed.body.data.updated_at > contact.updated_at, 'updated_at moves forward');
  assert.equal(changed.body.data.created_at, contact.created_at);
  assert.notEqual(changed.headers.etag, etag);
});
