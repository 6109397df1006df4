// /platform/v1/customers (contract §3): list with filters and offset pagination, create, get,
// update, delete.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isoMicros } from '../../src/db/connection.ts';
import { createKey } from '../../src/projects/service.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BASE = '/platform/v1/customers';
const NOT_FOUND = { error: 'Customer not found' };
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
let t: TestApp;
let alphaId: string;

before(async () => {
  t = await startTestApp();
  alphaId = (await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow()).id;
});
after(async () => t.close());

async function create(customer: Record<string, unknown>, key?: string): Promise<{ id: string; name: string; external_customer_id: string | null; created_at: string; updated_at: string }> {
  const res = await t.request({ method: 'POST', url: BASE, key, body: { customer } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}
const get = (id: string) => t.request({ method: 'GET', url: `${BASE}/${id}` });
const patch = (id: string, customer: Record<string, unknown>) => t.request({ method: 'PATCH', url: `${BASE}/${id}`, body: { customer } });
const list = (query = '', key?: string) => t.request({ method: 'GET', url: `${BASE}${query ? `?${query}` : ''}`, key });

describe('create', () => {
  test('201 with every field; external_customer_id defaults to null', async () => {
    const res = await t.request({ method: 'POST', url: BASE, body: { customer: { name: 'Acme Corp', external_customer_id: 'acme-1' } } });
    assert.equal(res.status, 201);
    const c = res.body.data;
    assert.deepEqual(Object.keys(c).sort(), ['created_at', 'external_customer_id', 'id', 'name', 'updated_at']);
    assert.match(c.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(c.name, 'Acme Corp');
    assert.equal(c.external_customer_id, 'acme-1');
    assert.match(c.created_at, ISO);
    assert.match(c.updated_at, ISO);
    const stored = await t.database.db.selectFrom('customers').selectAll().where('id', '=', c.id).executeTakeFirstOrThrow();
    assert.equal(stored.project_id, alphaId);
    assert.equal(isoMicros(stored.created_at), c.created_at);
    const plain = await create({ name: 'No External' });
    assert.equal(plain.external_customer_id, null);
    assert.equal((await create({ name: 'Explicit null', external_customer_id: null })).external_customer_id, null);
  });

  test('name is required and must be a non-blank string', async () => {
    for (const customer of [{}, { name: '' }, { name: '   ' }, { name: 123 }, { name: null }, { external_customer_id: 'x' }]) {
      const res = await t.request({ method: 'POST', url: BASE, body: { customer } });
      assert.equal(res.status, 422, JSON.stringify(customer));
      assert.match(res.body.error, /name/);
    }
  });

  test('unknown fields, a missing wrapper and malformed JSON are refused', async () => {
    const unknown = await t.request({ method: 'POST', url: BASE, body: { customer: { name: 'X', colour: 'red' } } });
    assert.equal(unknown.status, 422);
    assert.match(unknown.body.error, /colour/);
    const topLevel = await t.request({ method: 'POST', url: BASE, body: { customer: { name: 'X' }, extra: 1 } });
    assert.equal(topLevel.status, 422);
    assert.match(topLevel.body.error, /extra/);
    const unwrapped = await t.request({ method: 'POST', url: BASE, body: { name: 'X' } });
    assert.equal(unwrapped.status, 422);
    assert.match(unwrapped.body.error, /customer/);
    const malformed = await t.request({ method: 'POST', url: BASE, rawBody: '{"customer":', headers: { 'content-type': 'application/json' } });
    assert.equal(malformed.status, 400);
    assert.equal(typeof malformed.body.error, 'string');
    const count = await t.database.db.selectFrom('customers').select((eb) => eb.fn.countAll<number>().as('n')).where('name', '=', 'X').executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 0);
  });

  test('external_customer_id is unique per project (422), free in another project', async () => {
    await create({ name: 'First', external_customer_id: 'dup-1' });
    const again = await t.request({ method: 'POST', url: BASE, body: { customer: { name: 'Second', external_customer_id: 'dup-1' } } });
    assert.equal(again.status, 422);
    assert.match(again.body.error, /external_customer_id/);
    const other = await create({ name: 'Beta', external_customer_id: 'dup-1' }, t.otherKey);
    assert.equal(other.external_customer_id, 'dup-1');
    // Many customers may have none.
    await create({ name: 'None A' });
    await create({ name: 'None B' });
    // Case matters: another string is another id.
    assert.equal((await create({ name: 'Upper', external_customer_id: 'DUP-1' })).external_customer_id, 'DUP-1');
  });
});

describe('get, update, delete', () => {
  test('get by id (any case); non-UUID and unknown ids are 404', async () => {
    const c = await create({ name: 'Getter', external_customer_id: 'get-1' });
    const res = await get(c.id);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, c);
    assert.deepEqual((await get(c.id.toUpperCase())).body.data, c);
    for (const id of ['not-a-uuid', 'get-1', '123', '123e4567-e89b-12d3-a456-426614174000']) {
      for (const res2 of [await get(id), await patch(id, { name: 'x' }), await t.request({ method: 'DELETE', url: `${BASE}/${id}` })]) {
        assert.equal(res2.status, 404, id);
        assert.deepEqual(res2.body, NOT_FOUND);
      }
    }
  });

  test('patch changes only what is sent and moves updated_at', async () => {
    const c = await create({ name: 'Before', external_customer_id: 'patch-1' });
    const renamed = await patch(c.id, { name: 'After' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.data.name, 'After');
    assert.equal(renamed.body.data.external_customer_id, 'patch-1');
    assert.equal(renamed.body.data.created_at, c.created_at);
    assert.ok(renamed.body.data.updated_at > c.updated_at);
    const cleared = await patch(c.id, { external_customer_id: null });
    assert.equal(cleared.body.data.external_customer_id, null);
    assert.equal(cleared.body.data.name, 'After');
    assert.deepEqual((await get(c.id)).body.data, cleared.body.data);
    const set = await patch(c.id.toUpperCase(), { external_customer_id: 'patch-2', name: 'Both' });
    assert.equal(set.status, 200);
    assert.equal(set.body.data.external_customer_id, 'patch-2');
    assert.equal(set.body.data.name, 'Both');
  });

  test('patch validation: taken external id, own external id, blank name, unknown field', async () => {
    const a = await create({ name: 'A', external_customer_id: 'taken-a' });
    const b = await create({ name: 'B', external_customer_id: 'taken-b' });
    const taken = await patch(b.id, { external_customer_id: 'taken-a' });
    assert.equal(taken.status, 422);
    assert.match(taken.body.error, /external_customer_id/);
    assert.equal((await get(b.id)).body.data.external_customer_id, 'taken-b');
    assert.equal((await patch(a.id, { external_customer_id: 'taken-a' })).status, 200);
    for (const [customer, field] of [[{ name: '' }, 'name'], [{ name: ' ' }, 'name'], [{ name: null }, 'name'], [{ nickname: 'x' }, 'nickname'], [{ id: a.id }, 'id']] as const) {
      const res = await patch(a.id, customer);
      assert.equal(res.status, 422, JSON.stringify(customer));
      assert.match(res.body.error, new RegExp(field));
    }
    assert.equal((await get(a.id)).body.data.name, 'A');
  });

  test('delete → 204; the customer is gone; its contacts stay with customer_id null', async () => {
    const c = await create({ name: 'Doomed', external_customer_id: 'doomed' });
    const keeper = await create({ name: 'Keeper' });
    const contacts: string[] = [];
    for (const [wa_id, customer_id] of [['+1 555 900 0001', c.id], ['+1 555 900 0002', c.id], ['+1 555 900 0003', keeper.id]] as const) {
      const res = await t.request({ method: 'POST', url: '/platform/v1/whatsapp/contacts', body: { contact: { wa_id, customer_id } } });
      assert.equal(res.status, 201);
      contacts.push(res.body.data.id);
    }
    const res = await t.request({ method: 'DELETE', url: `${BASE}/${c.id}` });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.deepEqual((await get(c.id)).body, NOT_FOUND);
    assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${c.id}` })).status, 404);
    for (const id of contacts.slice(0, 2)) {
      const got = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${id}` });
      assert.equal(got.status, 200);
      assert.equal(got.body.data.customer_id, null);
    }
    const kept = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${contacts[2]}` });
    assert.equal(kept.body.data.customer_id, keeper.id);
    const filtered = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts?customer_id=${c.id}` });
    assert.deepEqual(filtered.body.data, []);
    // The external id is free again.
    assert.equal((await create({ name: 'Reborn', external_customer_id: 'doomed' })).external_customer_id, 'doomed');
  });

  test("another project's customer is 404 and untouched", async () => {
    const c = await create({ name: 'Private', external_customer_id: 'private' });
    for (const res of [
      await t.request({ method: 'GET', url: `${BASE}/${c.id}`, key: t.otherKey }),
      await t.request({ method: 'PATCH', url: `${BASE}/${c.id}`, key: t.otherKey, body: { customer: { name: 'Stolen' } } }),
      await t.request({ method: 'DELETE', url: `${BASE}/${c.id}`, key: t.otherKey }),
    ]) {
      assert.equal(res.status, 404);
      assert.deepEqual(res.body, NOT_FOUND);
    }
    assert.deepEqual((await get(c.id)).body.data, c);
  });
});

describe('list', () => {
  let fresh: TestApp;
  const all = async (query = '') => (await fresh.request({ method: 'GET', url: `${BASE}?per_page=100${query ? `&${query}` : ''}` })).body.data as { id: string; name: string; created_at: string }[];
  const names = async (query: string) => (await all(query)).map((c) => c.name).sort();

  before(async () => {
    // A project of its own, so that the expected sets are exact.
    const { key } = await createKey(t.database.db, 'gamma');
    fresh = { ...t, key, request: (opts) => t.request({ ...opts, key: opts.key === undefined ? key : opts.key }) };
    for (const [name, ext] of [['Acme Corp', 'ext-1'], ['acme labs', 'ext-2'], ['Globex', null], ['100% Pure', 'ext-4'], ['100 Percent', null], ['a_b', null], ['axb', null]] as const) {
      const res = await fresh.request({ method: 'POST', url: BASE, body: { customer: { name, external_customer_id: ext } } });
      assert.equal(res.status, 201);
    }
    for (let i = 0; i < 18; i++) await fresh.request({ method: 'POST', url: BASE, body: { customer: { name: `Filler ${i}` } } });
  });

  test('default page: 20 newest first, meta and headers', async () => {
    const res = await fresh.request({ method: 'GET', url: BASE });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.meta, { page: 1, per_page: 20, total_pages: 2, total_count: 25 });
    assert.equal(res.body.data.length, 20);
    assert.equal(res.body.data[0].name, 'Filler 17');
    assert.equal(res.headers['x-total'], '25');
    assert.equal(res.headers['x-total-pages'], '2');
    assert.equal(res.headers['x-per-page'], '20');
    assert.equal(res.headers['x-page'], '1');
    const link = String(res.headers.link);
    assert.match(link, /<\/platform\/v1\/customers\?page=1&per_page=20>; rel="first"/);
    assert.match(link, /<\/platform\/v1\/customers\?page=2&per_page=20>; rel="next"/);
    assert.match(link, /<\/platform\/v1\/customers\?page=2&per_page=20>; rel="last"/);
    assert.doesNotMatch(link, /rel="prev"/);
  });

  test('pages in turn give created_at desc, id desc, each customer once', async () => {
    const seen: { id: string; created_at: string }[] = [];
    for (let page = 1; page <= 4; page++) {
      const res = await fresh.request({ method: 'GET', url: `${BASE}?page=${page}&per_page=7` });
      assert.deepEqual(res.body.meta, { page, per_page: 7, total_pages: 4, total_count: 25 });
      assert.equal(res.headers['x-page'], String(page));
      assert.equal(/rel="prev"/.test(String(res.headers.link)), page > 1);
      seen.push(...res.body.data);
    }
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen.map((c) => c.id)).size, 25);
    const sorted = [...seen].sort((a, b) => (a.created_at !== b.created_at ? (a.created_at < b.created_at ? 1 : -1) : a.id < b.id ? 1 : -1));
    assert.deepEqual(seen, sorted);
    assert.equal(seen[24]!.created_at <= seen[0]!.created_at, true);
    assert.deepEqual((await fresh.request({ method: 'GET', url: `${BASE}?page=9` })).body.data, []);
  });

  test('name_contains: case-insensitive substring, % and _ literal', async () => {
    assert.deepEqual(await names('name_contains=ACME'), ['Acme Corp', 'acme labs']);
    assert.deepEqual(await names('name_contains=%25'), ['100% Pure']);
    assert.deepEqual(await names('name_contains=_'), ['a_b']);
    assert.deepEqual(await names('name_contains=nothing-like-this'), []);
  });

  test('external_customer_id is exact', async () => {
    assert.deepEqual(await names('external_customer_id=ext-1'), ['Acme Corp']);
    assert.deepEqual(await names('external_customer_id=ext'), []);
    assert.deepEqual(await names('external_customer_id=EXT-1'), []);
  });

  test('created_after / created_before are exclusive and combine with other filters', async () => {
    const rows = await all();
    const bound = rows[10]!.created_at;
    assert.deepEqual((await all(`created_after=${bound}`)).map((c) => c.id), rows.slice(0, 10).map((c) => c.id));
    assert.deepEqual((await all(`created_before=${bound}`)).map((c) => c.id), rows.slice(11).map((c) => c.id));
    assert.deepEqual((await all(`created_after=${rows[20]!.created_at}&created_before=${rows[15]!.created_at}`)).map((c) => c.id), rows.slice(16, 20).map((c) => c.id));
    assert.deepEqual(await names(`name_contains=acme&created_after=${rows[24]!.created_at}`), ['acme labs']);
    const res = await fresh.request({ method: 'GET', url: `${BASE}?name_contains=filler&per_page=5&page=2` });
    assert.deepEqual(res.body.meta, { page: 2, per_page: 5, total_pages: 4, total_count: 18 });
    assert.match(String(res.headers.link), /name_contains=filler/);
  });

  test('bad values: dates and empty name_contains → 422; bad page/per_page → 400', async () => {
    for (const [q, name] of [['created_after=yesterday', 'created_after'], ['created_before=2025-02-30T00:00:00Z', 'created_before'], ['created_after=0000-01-01T00:00:00Z', 'created_after'], ['name_contains=', 'name_contains']]) {
      const res = await fresh.request({ method: 'GET', url: `${BASE}?${q}` });
      assert.equal(res.status, 422, q);
      assert.ok(res.body.error.includes(name), res.body.error);
    }
    for (const q of ['page=0', 'per_page=0', 'page=abc', 'per_page=-1', 'page=1e400', 'per_page=9999999999999999999', 'page=9007199254740993&per_page=100000']) {
      assert.equal((await fresh.request({ method: 'GET', url: `${BASE}?${q}` })).status, 400, q);
    }
  });

  test('each project lists only its own customers', async () => {
    const alpha = await list('per_page=100');
    assert.ok(alpha.body.data.length > 0);
    assert.ok(!alpha.body.data.some((c: { name: string }) => c.name.startsWith('Filler')));
    const rows = await t.database.db.selectFrom('customers').select('id').where('project_id', '=', alphaId).execute();
    assert.equal(alpha.body.meta.total_count, rows.length);
  });
});
