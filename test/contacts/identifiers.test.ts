// GET / PATCH / DELETE /whatsapp/contacts/{identifier} with every identifier shape (contract §2.3).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BASE = '/platform/v1/whatsapp/contacts';
const NOT_FOUND = { error: 'Contact not found' };
let t: TestApp;
let alphaId: string;

before(async () => {
  t = await startTestApp();
  alphaId = (await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow()).id;
});
after(async () => t.close());

async function create(wa_id: string, extra: Record<string, unknown> = {}): Promise<{ id: string; wa_id: string }> {
  const res = await t.request({ method: 'POST', url: BASE, body: { contact: { wa_id, ...extra } } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

async function insert(values: { wa_id?: string | null; business_scoped_user_id?: string | null; parent_business_scoped_user_id?: string | null; username?: string | null; profile_name?: string | null; created_at?: string }) {
  return t.database.db
    .insertInto('contacts')
    .values({
      project_id: alphaId,
      wa_id: values.wa_id ?? null,
      business_scoped_user_id: values.business_scoped_user_id ?? null,
      parent_business_scoped_user_id: values.parent_business_scoped_user_id ?? null,
      username: values.username ?? null,
      profile_name: values.profile_name ?? null,
      ...(values.created_at ? { created_at: values.created_at } : {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
}

const get = (identifier: string, key?: string) => t.request({ method: 'GET', url: `${BASE}/${identifier}`, key });
const patch = (identifier: string, contact: Record<string, unknown>) => t.request({ method: 'PATCH', url: `${BASE}/${identifier}`, body: { contact } });
const del = (identifier: string) => t.request({ method: 'DELETE', url: `${BASE}/${identifier}` });
const storedWaId = async (id: string) => (await t.database.db.selectFrom('contacts').select('wa_id').where('id', '=', id).executeTakeFirstOrThrow()).wa_id;

describe('UUID', () => {
  test('GET / PATCH / DELETE by id in lower, upper and mixed case', async () => {
    const c = await create('+1 555 200 0001');
    for (const form of [c.id, c.id.toUpperCase(), c.id.replace(/[a-f]/g, (x, i: number) => (i % 2 ? x.toUpperCase() : x))]) {
      const res = await get(form);
      assert.equal(res.status, 200, form);
      assert.equal(res.body.data.id, c.id);
    }
    const patched = await patch(c.id.toUpperCase(), { display_name: 'Upper' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.display_name, 'Upper');
    assert.equal(patched.body.data.id, c.id);
    assert.equal((await del(c.id.toUpperCase())).status, 204);
    assert.equal((await get(c.id)).status, 404);
  });

  test('an unknown UUID is 404 for GET, PATCH and DELETE', async () => {
    const unknown = '123e4567-e89b-12d3-a456-426614174000';
    for (const res of [await get(unknown), await patch(unknown, { display_name: 'x' }), await del(unknown)]) {
      assert.equal(res.status, 404);
      assert.deepEqual(res.body, NOT_FOUND);
    }
  });
});

describe('BSUID', () => {
  let id: string;
  before(async () => {
    id = (await insert({ business_scoped_user_id: 'US.13491208655302741918', username: '@testusername', profile_name: 'Bsuid Only' })).id;
    await insert({ business_scoped_user_id: 'BR.13491208655302741918', wa_id: '5511999990000' });
  });

  test('found verbatim; a BSUID-only contact has wa_id null', async () => {
    const res = await get('US.13491208655302741918');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.id, id);
    assert.equal(res.body.data.wa_id, null);
    assert.equal(res.body.data.business_scoped_user_id, 'US.13491208655302741918');
    assert.equal(res.body.data.username, '@testusername');
    assert.notEqual((await get('BR.13491208655302741918')).body.data.id, id, 'the country prefix is part of the id');
  });

  test('other case, other prefix or a prefix of it → 404', async () => {
    for (const form of ['us.13491208655302741918', 'CA.13491208655302741918', 'US.1349120865530274191', 'US.134912086553027419180', 'US.ENT.13491208655302741918']) {
      const res = await get(form);
      assert.equal(res.status, 404, form);
      assert.deepEqual(res.body, NOT_FOUND);
    }
  });

  test('PATCH and DELETE by BSUID', async () => {
    const patched = await patch('US.13491208655302741918', { display_name: 'By BSUID' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.id, id);
    assert.equal(patched.body.data.display_name, 'By BSUID');
    assert.equal((await del('US.13491208655302741918')).status, 204);
    assert.deepEqual((await get('US.13491208655302741918')).body, NOT_FOUND);
    assert.equal((await patch('US.13491208655302741918', { display_name: 'x' })).status, 404);
    assert.equal((await del('US.13491208655302741918')).status, 404);
  });
});

describe('parent BSUID', () => {
  const PARENT = 'US.ENT.506847293015824';
  const ids: Record<string, string> = {};
  before(async () => {
    // Inserted out of order: the newest by created_at is not the last inserted.
    ids.middle = (await insert({ business_scoped_user_id: 'US.1001', parent_business_scoped_user_id: PARENT, created_at: '2025-02-01T00:00:00.000002Z' })).id;
    ids.newest = (await insert({ business_scoped_user_id: 'US.1002', parent_business_scoped_user_id: PARENT, created_at: '2025-02-01T00:00:00.000003Z' })).id;
    ids.oldest = (await insert({ business_scoped_user_id: 'US.1003', parent_business_scoped_user_id: PARENT, created_at: '2025-02-01T00:00:00.000001Z' })).id;
    await insert({ business_scoped_user_id: 'US.1004', parent_business_scoped_user_id: 'US.ENT.999', created_at: '2030-01-01T00:00:00Z' });
  });

  test('GET returns the most recently created contact sharing it', async () => {
    const res = await get(PARENT);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.id, ids.newest);
    assert.equal(res.body.data.parent_business_scoped_user_id, PARENT);
    assert.equal((await get('US.1001')).body.data.id, ids.middle, 'each child is still reachable by its own BSUID');
    assert.deepEqual((await get('US.ENT.50684729301582')).body, NOT_FOUND);
    assert.deepEqual((await get('us.ent.506847293015824')).body, NOT_FOUND);
  });

  test('PATCH changes only the newest; DELETE erases it and the next one takes its place', async () => {
    const patched = await patch(PARENT, { display_name: 'Newest' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.id, ids.newest);
    assert.equal((await get(ids.middle!)).body.data.display_name, null);
    assert.equal((await del(PARENT)).status, 204);
    assert.equal((await get(ids.newest!)).status, 404);
    assert.equal((await get(PARENT)).body.data.id, ids.middle);
    assert.equal((await del(PARENT)).status, 204);
    assert.equal((await get(PARENT)).body.data.id, ids.oldest);
    assert.equal((await del(PARENT)).status, 204);
    assert.deepEqual((await get(PARENT)).body, NOT_FOUND);
    assert.equal((await del(PARENT)).status, 404);
  });
});

describe('phone number', () => {
  let c: { id: string; wa_id: string };
  before(async () => {
    c = await create('15551234567');
  });

  const forms = [
    '15551234567',
    '+15551234567',
    '%2B15551234567',
    '%2B1%20555%20123%204567',
    '+1%20555-123-4567',
    '1-555-123-4567',
    '%2B1%20(555)%20123-4567',
    '1.555.123.4567',
    '%20%2B1%20555%201234567%20',
    '0015551234567',
  ];
  for (const form of forms) {
    test(`GET and PATCH by ${decodeURIComponent(form)}`, async () => {
      const res = await get(form);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.data.id, c.id);
      const patched = await patch(form, { metadata: { form } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.data.id, c.id);
      assert.deepEqual(patched.body.data.metadata, { form });
    });
  }

  test('a national form without country code, or other text, is not a match', async () => {
    for (const form of ['(555)%20123-4567', '5551234567', '1555123456', 'hello', '%2B', '15551234567x']) {
      const res = await get(form);
      assert.equal(res.status, 404, form);
      assert.deepEqual(res.body, NOT_FOUND);
      assert.equal((await patch(form, { display_name: 'x' })).status, 404, form);
    }
  });

  test('DELETE by a written form; "not-a-number" → 422 Invalid phone number', async () => {
    const other = await create('+44 20 7946 0958');
    for (const bad of ['not-a-number', 'hello', '12', '(555)%20123-4567']) {
      const res = await del(bad);
      assert.equal(res.status, 422, bad);
      assert.deepEqual(res.body, { error: 'Invalid phone number' });
    }
    const unknown = await del('%2B44%2020%207946%200000');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, NOT_FOUND);
    assert.equal((await del('%2B44%2020%207946%200958')).status, 204);
    assert.equal((await get(other.id)).status, 404);
    assert.equal((await get(c.id)).status, 200, 'only that contact was erased');
  });
});

describe('Brazilian 9th digit', () => {
  test('stored with the 9 → found without it, and the stored number is never rewritten', async () => {
    const c = await create('+55 11 98765-4321');
    assert.equal(c.wa_id, '5511987654321');
    for (const form of ['551187654321', '%2B55%2011%208765-4321', '5511987654321']) {
      const res = await get(form);
      assert.equal(res.status, 200, form);
      assert.equal(res.body.data.id, c.id);
      assert.equal(res.body.data.wa_id, '5511987654321');
    }
    const patched = await patch('551187654321', { display_name: 'Via variant' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.wa_id, '5511987654321');
    assert.equal(await storedWaId(c.id), '5511987654321');
  });

  test('stored without the 9 → found with it', async () => {
    const c = await create('552187654321');
    assert.equal(c.wa_id, '552187654321');
    const res = await get('5521987654321');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.id, c.id);
    assert.equal(res.body.data.wa_id, '552187654321');
    assert.equal((await patch('%2B55%2021%2098765-4321', { display_name: 'x' })).body.data.id, c.id);
    assert.equal(await storedWaId(c.id), '552187654321');
    assert.equal((await del('5521987654321')).status, 204);
    assert.equal((await get('552187654321')).status, 404);
  });

  test('when both forms exist, each lookup finds its exact match', async () => {
    const withNine = await create('5531987654321');
    const withoutNine = await create('553187654321');
    assert.equal((await get('5531987654321')).body.data.id, withNine.id);
    assert.equal((await get('553187654321')).body.data.id, withoutNine.id);
    assert.equal((await patch('553187654321', { display_name: 'eight' })).body.data.id, withoutNine.id);
    assert.equal((await get(withNine.id)).body.data.display_name, null);
    assert.equal((await del('5531987654321')).status, 204);
    assert.equal((await get(withoutNine.id)).status, 200, 'the exact match was erased, not the variant');
    // With the exact one gone, the variant is found again.
    assert.equal((await get('5531987654321')).body.data.id, withoutNine.id);
  });

  test('non-mobile numbers are not varied', async () => {
    const landline = await create('551132654321');
    const res = await get('5511932654321');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, NOT_FOUND);
    assert.equal((await get('551132654321')).body.data.id, landline.id);
    const nineLandline = await create('5511932654322');
    assert.equal((await get('551132654322')).status, 404);
    assert.equal((await get('5511932654322')).body.data.id, nineLandline.id);
  });

  test('numbers of other countries are not varied', async () => {
    await create('+1 555 987 6543');
    assert.equal((await get('1555876543')).status, 404);
    assert.equal((await get('15559876543')).status, 200);
  });
});

describe('scoping', () => {
  test('every identifier shape is scoped to the key\'s project', async () => {
    const c = await create('+1 555 300 0001');
    await insert({ business_scoped_user_id: 'US.777', parent_business_scoped_user_id: 'US.ENT.777' });
    for (const identifier of [c.id, '15553000001', 'US.777', 'US.ENT.777']) {
      assert.equal((await get(identifier)).status, 200, identifier);
      const res = await get(identifier, t.otherKey);
      assert.equal(res.status, 404, identifier);
      assert.deepEqual(res.body, NOT_FOUND);
    }
  });
});
