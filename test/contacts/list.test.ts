// GET /platform/v1/whatsapp/contacts: cursor mode, offset mode and its legacy limits, every filter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isoMicros } from '../../src/db/connection.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BASE = '/platform/v1/whatsapp/contacts';
let t: TestApp;
let alphaId: string;

before(async () => {
  t = await startTestApp();
  alphaId = (await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow()).id;
  // 40 contacts through the API (created_at from the clock, all distinct) ...
  for (let i = 0; i < 40; i++) {
    const res = await t.request({ method: 'POST', url: BASE, body: { contact: { wa_id: `+1 555 010 ${String(1000 + i)}`, profile_name: `Walker ${i}` } } });
    assert.equal(res.status, 201);
  }
  // ... and 5 sharing one created_at to the microsecond, so that ties are broken by id, plus
  // neighbours one microsecond apart.
  for (let i = 0; i < 5; i++) await insert({ wa_id: `1555020${1000 + i}`, profile_name: `Tie ${i}`, created_at: '2024-05-05T10:00:00.123456Z' });
  await insert({ wa_id: '15550301000', profile_name: 'Tie before', created_at: '2024-05-05T10:00:00.123455Z' });
  await insert({ wa_id: '15550301001', profile_name: 'Tie after', created_at: '2024-05-05T10:00:00.123457Z' });
  // A contact of the other project never shows up.
  assert.equal((await t.request({ method: 'POST', url: BASE, key: t.otherKey, body: { contact: { wa_id: '15550409999', profile_name: 'Walker beta' } } })).status, 201);
});
after(async () => t.close());

async function insert(values: { wa_id?: string | null; profile_name?: string | null; created_at?: string; customer_id?: string | null; business_scoped_user_id?: string | null }) {
  return t.database.db
    .insertInto('contacts')
    .values({ project_id: alphaId, wa_id: values.wa_id ?? null, profile_name: values.profile_name ?? null, customer_id: values.customer_id ?? null, business_scoped_user_id: values.business_scoped_user_id ?? null, ...(values.created_at ? { created_at: values.created_at } : {}) })
    .returning('id')
    .executeTakeFirstOrThrow();
}

/** Every visible contact of alpha, sorted in JS by (created_at desc, id desc): the expected order. */
async function expectedIds(): Promise<string[]> {
  const rows = await t.database.db.selectFrom('contacts').select(['id', 'created_at']).where('project_id', '=', alphaId).where('erased_at', 'is', null).execute();
  return rows
    .map((r) => ({ id: r.id, at: isoMicros(r.created_at) }))
    .sort((a, b) => (a.at !== b.at ? (a.at < b.at ? 1 : -1) : a.id < b.id ? 1 : -1))
    .map((r) => r.id);
}

const get = (query: string, key?: string) => t.request({ method: 'GET', url: `${BASE}${query ? `?${query}` : ''}`, key });

/** Walks every page forward with `after`; returns the ids in order. */
async function walk(query: string, limit = 100): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const res = await get(`${query}${query ? '&' : ''}limit=${limit}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    ids.push(...res.body.data.map((c: { id: string }) => c.id));
    cursor = res.body.paging.next;
    if (cursor === null) return ids;
  }
  throw new Error('walk did not end');
}

describe('cursor mode', () => {
  test('default: 20 newest contacts, next set, previous null, every field present', async () => {
    const expected = await expectedIds();
    assert.equal(expected.length, 47);
    const res = await get('');
    assert.equal(res.status, 200);
    assert.equal(res.body.meta, undefined);
    assert.deepEqual(res.body.data.map((c: { id: string }) => c.id), expected.slice(0, 20));
    assert.equal(typeof res.body.paging.next, 'string');
    assert.equal(res.body.paging.previous, null);
    assert.equal(typeof res.body.paging.cursors.before, 'string');
    assert.equal(res.body.paging.cursors.after, res.body.paging.next);
    const keys = ['business_scoped_user_id', 'created_at', 'customer_id', 'display_name', 'id', 'metadata', 'parent_business_scoped_user_id', 'profile_name', 'updated_at', 'username', 'wa_id'];
    for (const c of res.body.data) assert.deepEqual(Object.keys(c).sort(), keys);
    assert.match(res.body.data[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(res.headers['x-total'], undefined);
  });

  test('limit 1..100; 0, 101, -1, abc and 2.5 are 400', async () => {
    assert.equal((await get('limit=1')).body.data.length, 1);
    const all = await get('limit=100');
    assert.equal(all.body.data.length, 47);
    assert.equal(all.body.paging.next, null);
    assert.equal(all.body.paging.previous, null);
    for (const bad of ['0', '101', '-1', 'abc', '2.5']) {
      const res = await get(`limit=${bad}`);
      assert.equal(res.status, 400, `limit=${bad}`);
      assert.match(res.body.error, /limit/);
    }
  });

  for (const limit of [7, 3, 1, 47]) {
    test(`forward with next and back with previous (limit ${limit}) visits every contact exactly once`, async () => {
      const expected = await expectedIds();
      const pages: string[][] = [];
      let res = await get(`limit=${limit}`);
      pages.push(res.body.data.map((c: { id: string }) => c.id));
      while (res.body.paging.next !== null) {
          res = await get(`limit=${limit}&after=${encodeURIComponent(res.body.paging.next)}`);
        assert.equal(res.status, 200);
        assert.notEqual(res.body.paging.previous, null, 'a page reached with after has a previous page');
        if (res.body.paging.next !== null) assert.equal(res.body.paging.cursors.after, res.body.paging.next);
        assert.ok(res.body.data.length > 0 && res.body.data.length <= limit);
        pages.push(res.body.data.map((c: { id: string }) => c.id));
        assert.ok(pages.length <= 60, 'walk does not end');
      }
      assert.equal(pages.length, Math.ceil(expected.length / limit));
      assert.deepEqual(pages.flat(), expected);
      assert.equal(new Set(pages.flat()).size, expected.length);

      // Back from the last page to the first.
      const back: string[][] = [pages[pages.length - 1]!];
      let previous: string | null = res.body.paging.previous;
      if (pages.length === 1) assert.equal(previous, null);
      while (previous !== null) {
        const page = await get(`limit=${limit}&before=${encodeURIComponent(previous)}`);
        assert.equal(page.status, 200);
        assert.equal(typeof page.body.paging.next, 'string', 'a page reached with before has a next page');
        back.unshift(page.body.data.map((c: { id: string }) => c.id));
        previous = page.body.paging.previous;
        assert.ok(back.length <= 60, 'walk back does not end');
      }
      assert.deepEqual(back, pages);
    });
  }

  test('next of a page reached with before leads forward to the following page', async () => {
    const expected = await expectedIds();
    const p1 = await get('limit=10');
    const p2 = await get(`limit=10&after=${encodeURIComponent(p1.body.paging.next)}`);
    const back = await get(`limit=10&before=${encodeURIComponent(p2.body.paging.previous)}`);
    assert.deepEqual(back.body.data.map((c: { id: string }) => c.id), expected.slice(0, 10));
    assert.equal(back.body.paging.previous, null);
    const forward = await get(`limit=10&after=${encodeURIComponent(back.body.paging.next)}`);
    assert.deepEqual(forward.body.data.map((c: { id: string }) => c.id), expected.slice(10, 20));
  });

  test('after the last item: empty page, next null', async () => {
    const last = await get('limit=100');
    const res = await get(`after=${encodeURIComponent(last.body.paging.cursors.after)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, []);
    assert.equal(res.body.paging.next, null);
  });

  test('both after and before → 400', async () => {
    const page = await get('limit=5');
    const c = encodeURIComponent(page.body.paging.next);
    const res = await get(`after=${c}&before=${c}`);
    assert.equal(res.status, 400);
    assert.match(res.body.error, /after/);
    assert.match(res.body.error, /before/);
  });

  test('cursors that do not decode → 400 naming the parameter', async () => {
    const b64 = (v: unknown) => encodeURIComponent(Buffer.from(JSON.stringify(v)).toString('base64'));
    const id = '123e4567-e89b-12d3-a456-426614174000';
    // The last three are dates JavaScript accepts but PostgreSQL does not: a 400, never a 500.
    const bad = ['garbage', '!!!', b64(null), b64('x'), b64({ values: [1, 2] }), b64({ values: ['2025-03-26T15:05:00.000000Z'] }), b64({ values: ['2025-03-26T15:05:00.000000Z', 'not-a-uuid'] }), b64({ values: ['yesterday', id] }),
      ...['2025-02-30T00:00:00.000000Z', '2025-04-31T00:00:00Z', '0000-01-01T00:00:00Z'].map((at) => b64({ values: [at, id] }))];
    for (const name of ['after', 'before']) {
      for (const cursor of bad) {
        const res = await get(`${name}=${cursor}`);
        assert.equal(res.status, 400, `${name}=${cursor}`);
        assert.equal(typeof res.body.error, 'string');
        assert.match(res.body.error, new RegExp(name));
      }
    }
  });
});

describe('offset mode', () => {
  const linkPages = (link: string) => Object.fromEntries(link.split(', ').map((part) => {
    const m = /^<([^>]+)>; rel="(\w+)"$/.exec(part);
    assert.ok(m, part);
    const url = new URL(m[1]!, 'http://x');
    return [m[2]!, { page: url.searchParams.get('page'), perPage: url.searchParams.get('per_page'), path: url.pathname, query: url.searchParams }];
  }));

  test('page and per_page: meta, X-* headers and Link', async () => {
    const expected = await expectedIds();
    const ok = await get('page=2&per_page=10');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.paging, undefined);
    assert.deepEqual(ok.body.meta, { page: 2, per_page: 10, total_pages: 5, total_count: 47 });
    assert.deepEqual(ok.body.data.map((c: { id: string }) => c.id), expected.slice(10, 20));
    assert.equal(ok.headers['x-total'], '47');
    assert.equal(ok.headers['x-total-pages'], '5');
    assert.equal(ok.headers['x-per-page'], '10');
    assert.equal(ok.headers['x-page'], '2');
    const links = linkPages(String(ok.headers.link));
    assert.deepEqual(Object.keys(links).sort(), ['first', 'last', 'next', 'prev']);
    assert.equal(links.first!.page, '1');
    assert.equal(links.prev!.page, '1');
    assert.equal(links.next!.page, '3');
    assert.equal(links.last!.page, '5');
    for (const l of Object.values(links)) {
      assert.equal(l.perPage, '10');
      assert.equal(l.path, BASE);
    }
  });

  test('every page in turn covers the list exactly once; first and last pages omit prev/next', async () => {
    const expected = await expectedIds();
    const seen: string[] = [];
    for (let page = 1; page <= 5; page++) {
      const res = await get(`page=${page}&per_page=10`);
      seen.push(...res.body.data.map((c: { id: string }) => c.id));
      const rels = Object.keys(linkPages(String(res.headers.link)));
      assert.equal(rels.includes('prev'), page > 1);
      assert.equal(rels.includes('next'), page < 5);
    }
    assert.deepEqual(seen, expected);
    const beyond = await get('page=6&per_page=10');
    assert.deepEqual(beyond.body.data, []);
    assert.equal(beyond.body.meta.total_count, 47);
  });

  test('only per_page or only page switches to offset mode with the other defaulted', async () => {
    const expected = await expectedIds();
    const a = await get('per_page=5');
    assert.deepEqual(a.body.meta, { page: 1, per_page: 5, total_pages: 10, total_count: 47 });
    assert.deepEqual(a.body.data.map((c: { id: string }) => c.id), expected.slice(0, 5));
    const b = await get('page=2');
    assert.deepEqual(b.body.meta, { page: 2, per_page: 20, total_pages: 3, total_count: 47 });
    assert.deepEqual(b.body.data.map((c: { id: string }) => c.id), expected.slice(20, 40));
  });

  test('Link keeps the filters', async () => {
    const res = await get('per_page=2&profile_name_contains=Walker');
    const links = linkPages(String(res.headers.link));
    assert.equal(links.next!.query.get('profile_name_contains'), 'Walker');
  });

  test('page 0, per_page 0 and non-numbers → 400', async () => {
    for (const q of ['page=0', 'per_page=0', 'page=abc', 'per_page=x', 'page=-3']) {
      const res = await get(q);
      assert.equal(res.status, 400, q);
      assert.equal(typeof res.body.error, 'string', q);
    }
  });

  test('the largest allowed requests pass: page 50 × 100 and 1 × 100', async () => {
    assert.equal((await get('page=50&per_page=100')).status, 200);
    assert.equal((await get('page=1&per_page=100')).body.data.length, 47);
  });

  const pageDetail = (n: number) => `Page ${n} exceeds the maximum supported legacy offset page (50). Use cursor pagination with limit, after, and before.`;
  const sizeDetail = (n: number) => `Per page ${n} exceeds the maximum supported legacy offset page size (100). Use cursor pagination with limit, after, and before.`;
  const cases = [
    { q: 'page=51&per_page=100', page: 51, perPage: 100, detail: pageDetail(51) },
    { q: 'page=51', page: 51, perPage: 20, detail: pageDetail(51) },
    { q: 'per_page=101', page: 1, perPage: 101, detail: sizeDetail(101) },
    { q: 'page=26&per_page=200', page: 26, perPage: 200, detail: sizeDetail(200) },
    { q: 'page=50&per_page=101', page: 50, perPage: 101, detail: sizeDetail(101) },
    { q: 'page=11&per_page=500', page: 11, perPage: 500, detail: sizeDetail(500) },
  ];
  for (const c of cases) {
    test(`${c.q} → the legacy 400 body`, async () => {
      const res = await get(c.q);
      assert.equal(res.status, 400);
      const { cursor_example, ...rest } = res.body;
      assert.deepEqual(rest, {
        message: 'legacy_offset_pagination_limit_exceeded',
        detail: c.detail,
        requested_page: c.page,
        requested_per_page: c.perPage,
        requested_window: c.page * c.perPage,
        max_page: 50,
        max_window: 5000,
      });
      assert.ok(cursor_example.endsWith('/platform/v1/whatsapp/contacts?limit=100'), cursor_example);
      assert.match(cursor_example, /^https?:\/\/[^/]+\/platform/);
    });
  }

  test('cursor_example uses the request host', async () => {
    const res = await t.request({ method: 'GET', url: `${BASE}?page=51`, headers: { host: 'parley.example.com' } });
    assert.equal(res.body.cursor_example, 'http://parley.example.com/platform/v1/whatsapp/contacts?limit=100');
  });
});

describe('filters', () => {
  const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((c) => c.id).sort();
  const contact = async (wa_id: string, extra: Record<string, unknown> = {}) => {
    const res = await t.request({ method: 'POST', url: BASE, body: { contact: { wa_id, ...extra } } });
    assert.equal(res.status, 201, res.text);
    return res.body.data.id as string;
  };
  const customer = async (name: string, external_customer_id: string | null, key?: string) => {
    const res = await t.request({ method: 'POST', url: '/platform/v1/customers', key, body: { customer: { name, external_customer_id } } });
    assert.equal(res.status, 201, res.text);
    return res.body.data.id as string;
  };
  let acme: string, globex: string, withCustomer: string[], alice: string[], bsuid: string;

  before(async () => {
    acme = await customer('Acme', 'ext-acme');
    globex = await customer('Globex', null);
    await customer('Beta Acme', 'ext-acme', t.otherKey);
    alice = [await contact('+44 7700 900123', { profile_name: 'Alice Smith', customer_id: acme }), await contact('+44 7700 900124', { profile_name: 'ALICE jones', customer_id: acme }), await contact('+49 151 23456789', { profile_name: 'Malice' })];
    withCustomer = [...alice.slice(0, 2), await contact('+33 6 12 34 56 78', { profile_name: 'Bob', customer_id: globex })];
    await contact('+81 90 1234 5678', { profile_name: '100% real' });
    await contact('+81 90 1234 5679', { profile_name: '100 percent' });
    await contact('+81 90 1234 5680', { profile_name: 'a_b' });
    await contact('+81 90 1234 5681', { profile_name: 'axb' });
    bsuid = (await insert({ business_scoped_user_id: 'US.13491208655302741918', profile_name: 'Only BSUID' })).id;
    await insert({ business_scoped_user_id: 'US.134912086553027419180', profile_name: 'Longer BSUID' });
  });

  test('customer_id and customer_external_id', async () => {
    assert.deepEqual(ids(await get(`customer_id=${acme}`)), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get(`customer_id=${acme.toUpperCase()}`)), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get(`customer_id=${globex}`)), [withCustomer[2]]);
    assert.deepEqual(ids(await get('customer_id=123e4567-e89b-12d3-a456-426614174000')), []);
    assert.deepEqual(ids(await get('customer_external_id=ext-acme')), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get('customer_external_id=ext-nobody')), []);
  });

  test('has_customer=true / false partition the list', async () => {
    const all = await walk('');
    const yes = await walk('has_customer=true');
    const no = await walk('has_customer=false');
    assert.deepEqual([...yes].sort(), [...withCustomer].sort());
    assert.equal(yes.length + no.length, all.length);
    assert.deepEqual([...yes, ...no].sort(), [...all].sort());
    assert.ok(!no.some((id) => withCustomer.includes(id)));
  });

  test('profile_name_contains is a case-insensitive substring; % and _ are literal', async () => {
    assert.deepEqual(ids(await get('profile_name_contains=alice')), [...alice].sort());
    assert.deepEqual(ids(await get('profile_name_contains=ALICE%20J')), [alice[1]]);
    const pct = await get('profile_name_contains=%25');
    assert.deepEqual(pct.body.data.map((c: { profile_name: string }) => c.profile_name), ['100% real']);
    const under = await get('profile_name_contains=a_b');
    assert.deepEqual(under.body.data.map((c: { profile_name: string }) => c.profile_name), ['a_b']);
    assert.deepEqual((await get('profile_name_contains=_')).body.data.map((c: { profile_name: string }) => c.profile_name), ['a_b']);
    assert.deepEqual(ids(await get('profile_name_contains=%5C')), []);
    assert.equal((await walk('profile_name_contains=walker', 9)).length, 40);
  });

  test('wa_id_contains matches digits anywhere; "+44 7700" style input is tolerated', async () => {
    assert.deepEqual(ids(await get('wa_id_contains=7700900')), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get('wa_id_contains=%2B44%207700')), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get('wa_id_contains=900124')), [alice[1]]);
    assert.deepEqual(ids(await get('wa_id_contains=%2B44-7700-900-124')), [alice[1]]);
    assert.deepEqual(ids(await get('wa_id_contains=0000000000')), []);
  });

  test('business_scoped_user_id is exact', async () => {
    assert.deepEqual(ids(await get('business_scoped_user_id=US.13491208655302741918')), [bsuid]);
    assert.deepEqual(ids(await get('business_scoped_user_id=US.1349120865530274191')), []);
    assert.deepEqual(ids(await get('business_scoped_user_id=us.13491208655302741918')), []);
  });

  test('created_after and created_before are exclusive bounds', async () => {
    const expected = await expectedIds();
    const page = await get('limit=100');
    const byId = new Map(page.body.data.map((c: { id: string; created_at: string }) => [c.id, c.created_at]));
    const upper = byId.get(expected[5]!) as string;
    const lower = byId.get(expected[15]!) as string;
    assert.deepEqual(await walk(`created_before=${upper}`), expected.slice(6));
    assert.deepEqual(await walk(`created_after=${lower}`), expected.slice(0, 15));
    assert.deepEqual(await walk(`created_after=${lower}&created_before=${upper}`, 4), expected.slice(6, 15));
    assert.deepEqual(await walk('created_before=2024-05-05T10:00:00.123457Z'), expected.filter((id) => (byId.get(id) as string) < '2024-05-05T10:00:00.123457Z'));
    assert.equal((await walk('created_before=2024-05-05T10:00:00.123457Z')).length, 6);
    assert.deepEqual(await walk('created_after=2999-01-01T00:00:00Z'), []);
  });

  test('filters combine (and apply in offset mode too)', async () => {
    assert.deepEqual(ids(await get(`has_customer=true&profile_name_contains=alice`)), alice.slice(0, 2).sort());
    assert.deepEqual(ids(await get(`has_customer=false&profile_name_contains=alice`)), [alice[2]]);
    assert.deepEqual(ids(await get(`customer_id=${acme}&wa_id_contains=900123`)), [alice[0]]);
    assert.deepEqual(ids(await get(`customer_id=${globex}&profile_name_contains=alice`)), []);
    const offset = await get('profile_name_contains=alice&page=1&per_page=2');
    assert.deepEqual(offset.body.meta, { page: 1, per_page: 2, total_pages: 2, total_count: 3 });
    assert.equal(offset.headers['x-total'], '3');
  });

  test('the other project sees only its own contacts, whatever the filter', async () => {
    const res = await get('limit=100', t.otherKey);
    assert.deepEqual(res.body.data.map((c: { profile_name: string }) => c.profile_name), ['Walker beta']);
    assert.deepEqual((await get('customer_external_id=ext-acme', t.otherKey)).body.data, []);
    assert.deepEqual((await get(`customer_id=${acme}`, t.otherKey)).body.data, []);
  });

  test('bad filter values → 422 naming the parameter', async () => {
    const bad: [string, string][] = [
      ['customer_id=not-a-uuid', 'customer_id'],
      ['has_customer=maybe', 'has_customer'],
      ['created_after=yesterday', 'created_after'],
      ['created_before=2025-13-45', 'created_before'],
      ['created_after=0000-01-01T00:00:00Z', 'created_after'],
      ['wa_id_contains=abc', 'wa_id_contains'],
      ['wa_id_contains=12a3', 'wa_id_contains'],
      ['profile_name_contains=', 'profile_name_contains'],
    ];
    for (const [q, name] of bad) {
      for (const mode of ['', '&page=1']) {
        const res = await get(q + mode);
        assert.equal(res.status, 422, q + mode);
        assert.ok(res.body.error.includes(name), `${q}: ${res.body.error}`);
      }
    }
  });
});
