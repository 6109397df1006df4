// Concurrent writes to contacts through the whole HTTP stack (app.inject, requests in flight at
// once) on a real PostgreSQL: the database, not Node, must decide who wins.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { assertError, CONTACTS, createContact, freshWaId, getContact, newContact, patchContact, usStyle } from '../helpers/contacts.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

const waId = () => freshWaId(3);

function statuses(responses: TestResponse[]): number[] {
  return responses.map((r) => r.status).sort((a, b) => a - b);
}

async function contactsWithNumber(number: string): Promise<number> {
  const response = await t.request({ method: 'GET', url: `${CONTACTS}?wa_id_contains=${number}&page=1&per_page=10` });
  assert.equal(response.status, 200, response.text);
  return response.body.data.filter((c: { wa_id: string }) => c.wa_id === number).length;
}

test('50 concurrent merge-patches on distinct metadata keys keep all 50 keys', async () => {
  const contact = await newContact(t, { metadata: { original: true, shared: { base: 1 } } });
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) => patchContact(t, contact.id, { metadata: { [`k${i}`]: i, shared: { [`s${i}`]: `v${i}` } } }, { merge: true })),
  );
  for (const response of responses) assert.equal(response.status, 200, response.text);

  const metadata = (await getContact(t, contact.id)).body.data.metadata;
  const expected: Record<string, unknown> = { original: true, shared: { base: 1 } };
  for (let i = 0; i < 50; i++) {
    expected[`k${i}`] = i;
    (expected.shared as Record<string, string>)[`s${i}`] = `v${i}`;
  }
  assert.deepEqual(metadata, expected);
  // Every write was a real change, so all 50 answers carry distinct entity tags.
  assert.equal(new Set(responses.map((r) => r.headers.etag)).size, 50);
});

test('concurrent merge-patches by different identifiers of one contact keep all keys', async () => {
  const contact = await newContact(t);
  const identifiers = [contact.id, contact.wa_id, `+${contact.wa_id}`, usStyle(contact.wa_id)];
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => patchContact(t, identifiers[i % identifiers.length]!, { metadata: { [`key${i}`]: { n: i } } }, { merge: true })),
  );
  for (const response of responses) assert.equal(response.status, 200, response.text);
  const metadata = (await getContact(t, contact.id)).body.data.metadata;
  assert.deepEqual(Object.keys(metadata).sort(), Array.from({ length: 20 }, (_, i) => `key${i}`).sort());
});

test('two concurrent creates of one number: exactly one 201 and one 422', async () => {
  for (let round = 0; round < 10; round++) {
    const number = waId();
    const responses = await Promise.all([createContact(t, { wa_id: number, profile_name: 'A' }), createContact(t, { wa_id: usStyle(number), profile_name: 'B' })]);
    assert.deepEqual(statuses(responses), [201, 422], responses.map((r) => r.text).join('\n'));
    const loser = responses.find((r) => r.status === 422)!;
    assertError(loser, 422, 'contact.wa_id');
    const winner = responses.find((r) => r.status === 201)!;
    assert.equal((await getContact(t, number)).body.data.id, winner.body.data.id);
    assert.equal(await contactsWithNumber(number), 1);
  }
});

test('ten concurrent creates of one number: one 201, nine 422', async () => {
  const number = waId();
  const responses = await Promise.all(Array.from({ length: 10 }, () => createContact(t, { wa_id: `+${number}` })));
  assert.deepEqual(statuses(responses), [201, ...Array<number>(9).fill(422)]);
  assert.equal(await contactsWithNumber(number), 1);
});

test('two concurrent PATCHes moving different contacts to one number: one 200, one 422', async () => {
  for (let round = 0; round < 5; round++) {
    const [a, b] = [await newContact(t), await newContact(t)];
    const target = waId();
    const responses = await Promise.all([patchContact(t, a!.id, { wa_id: target }), patchContact(t, b!.id, { wa_id: usStyle(target) })]);
    assert.deepEqual(statuses(responses), [200, 422], responses.map((r) => r.text).join('\n'));
    assertError(responses.find((r) => r.status === 422)!, 422, 'contact.wa_id');
    assert.equal(await contactsWithNumber(target), 1);
  }
});

test('If-Match race: two PATCHes with the same ETag give exactly one 200 and one 412', async () => {
  for (let round = 0; round < 10; round++) {
    const contact = await newContact(t, { display_name: 'start', metadata: { round } });
    const etag = (await getContact(t, contact.id)).headers.etag as string;
    const responses = await Promise.all([
      patchContact(t, contact.id, { display_name: 'first', metadata: { by: 'first' } }, { headers: { 'if-match': etag } }),
      patchContact(t, contact.id, { display_name: 'second' }, { merge: true, headers: { 'if-match': etag } }),
    ]);
    assert.deepEqual(statuses(responses), [200, 412], responses.map((r) => r.text).join('\n'));
    const winner = responses.find((r) => r.status === 200)!;
    assertError(responses.find((r) => r.status === 412)!, 412);
    // Only the winner's write is stored, whole.
    const got = await getContact(t, contact.id);
    assert.deepEqual(got.body.data, winner.body.data);
    assert.equal(got.headers.etag, winner.headers.etag);
    assert.deepEqual(got.body.data.metadata, winner.body.data.display_name === 'first' ? { by: 'first' } : { round });
  }
});

test('If-Match race among ten: exactly one 200, the rest 412', async () => {
  const contact = await newContact(t);
  const etag = (await getContact(t, contact.id)).headers.etag as string;
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) => patchContact(t, contact.id, { metadata: { [`k${i}`]: i } }, { merge: true, headers: { 'if-match': etag } })),
  );
  assert.deepEqual(statuses(responses), [200, ...Array<number>(9).fill(412)]);
  const metadata = (await getContact(t, contact.id)).body.data.metadata;
  assert.equal(Object.keys(metadata).length, 1);
});

test('concurrent creates with one Idempotency-Key create one contact; the others replay or wait', async () => {
  const number = waId();
  const key = `race-${number}`;
  const responses = await Promise.all(Array.from({ length: 5 }, () => createContact(t, { wa_id: number }, { headers: { 'idempotency-key': key } })));
  for (const response of responses) assert.ok([201, 409].includes(response.status), response.text);
  const created = responses.filter((r) => r.status === 201);
  assert.ok(created.length >= 1);
  const ids = new Set(created.map((r) => r.body.data.id));
  assert.equal(ids.size, 1, 'every 201 names the same contact');
  assert.equal(created.filter((r) => r.headers['idempotent-replayed'] !== 'true').length, 1, 'one original answer');
  assert.equal(await contactsWithNumber(number), 1);
  // Afterwards the key replays.
  const later = await createContact(t, { wa_id: number }, { headers: { 'idempotency-key': key } });
  assert.equal(later.status, 201);
  assert.equal(later.headers['idempotent-replayed'], 'true');
  assert.equal(later.body.data.id, [...ids][0]);
});
