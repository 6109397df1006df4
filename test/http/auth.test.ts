// The shared auth matrix: every /platform/v1 route without a key, with a bad key and with the other
// project's key; the rate limit; and the unauthenticated service endpoints.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createKey, revokeKey } from '../../src/projects/service.ts';
import { startTestApp, type RequestOptions, type TestApp } from '../helpers/app.ts';

const V1 = '/platform/v1';
const UNAUTHORIZED = { error: 'Missing or invalid API key' };
let t: TestApp;
let contact: { id: string; wa_id: string };
let customer: { id: string };

before(async () => {
  t = await startTestApp();
  const cu = await t.request({ method: 'POST', url: `${V1}/customers`, body: { customer: { name: 'Alpha Co', external_customer_id: 'alpha-ext' } } });
  assert.equal(cu.status, 201);
  customer = cu.body.data;
  const co = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, body: { contact: { wa_id: '+1 555 800 0001', profile_name: 'Alpha Person', customer_id: customer.id } } });
  assert.equal(co.status, 201);
  contact = co.body.data;
  const project = await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow();
  await t.database.db.insertInto('contacts').values({ project_id: project.id, business_scoped_user_id: 'US.8000001', parent_business_scoped_user_id: 'US.ENT.8000001' }).execute();
});
after(async () => t.close());

type Route = Omit<RequestOptions, 'key'>;
/** Every /platform/v1 route, aimed at resources of project alpha. */
function routes(): Route[] {
  return [
    { method: 'GET', url: `${V1}/whatsapp/contacts` },
    { method: 'GET', url: `${V1}/whatsapp/contacts?page=1` },
    { method: 'POST', url: `${V1}/whatsapp/contacts`, body: { contact: { wa_id: '+1 555 800 0099' } } },
    { method: 'GET', url: `${V1}/whatsapp/contacts/${contact.id}` },
    { method: 'PATCH', url: `${V1}/whatsapp/contacts/${contact.id}`, body: { contact: { display_name: 'x' } } },
    { method: 'DELETE', url: `${V1}/whatsapp/contacts/${contact.id}` },
    { method: 'GET', url: `${V1}/customers` },
    { method: 'POST', url: `${V1}/customers`, body: { customer: { name: 'New' } } },
    { method: 'GET', url: `${V1}/customers/${customer.id}` },
    { method: 'PATCH', url: `${V1}/customers/${customer.id}`, body: { customer: { name: 'x' } } },
    { method: 'DELETE', url: `${V1}/customers/${customer.id}` },
  ];
}

async function alphaIntact(): Promise<void> {
  const c = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts/${contact.id}` });
  assert.equal(c.status, 200);
  assert.equal(c.body.data.display_name, null);
  assert.equal(c.body.data.customer_id, customer.id);
  const cu = await t.request({ method: 'GET', url: `${V1}/customers/${customer.id}` });
  assert.equal(cu.status, 200);
  assert.equal(cu.body.data.name, 'Alpha Co');
  const counts = await t.database.db.selectFrom('contacts').select((eb) => eb.fn.countAll<number>().as('n')).where('wa_id', '=', '15558000099').executeTakeFirstOrThrow();
  assert.equal(Number(counts.n), 0, 'no unauthenticated create went through');
}

describe('401', () => {
  const wrongSecret = () => t.key.slice(0, -1) + (t.key.endsWith('A') ? 'B' : 'A');
  const bad: [string, () => string | null][] = [
    ['no key', () => null],
    ['an empty key', () => ''],
    ['garbage', () => 'garbage'],
    ['a Bearer header value', () => `Bearer ${t.key}`],
    ['the key with trailing text', () => `${t.key}x`],
    ['an unknown key of the right shape', () => `prl_ZZZZZZZZ_${'a'.repeat(43)}`],
    ['a known prefix with the wrong secret', wrongSecret],
  ];
  for (const [name, key] of bad) {
    test(`${name} → 401 on every route`, async () => {
      for (const route of routes()) {
        const res = await t.request({ ...route, key: key() });
        assert.equal(res.status, 401, `${route.method} ${route.url}`);
        assert.deepEqual(res.body, UNAUTHORIZED);
        assert.equal(res.headers['x-ratelimit-limit'], undefined);
      }
      await alphaIntact();
    });
  }

  test('the key is checked before the body: a bad body without a key is 401, not 400/422', async () => {
    const res = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, key: null, rawBody: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 401);
    const res2 = await t.request({ method: 'PATCH', url: `${V1}/customers/${customer.id}`, key: null, body: { nope: 1 } });
    assert.equal(res2.status, 401);
  });

  test('the key is not accepted in the query string or another header', async () => {
    assert.equal((await t.request({ method: 'GET', url: `${V1}/customers?api_key=${t.key}`, key: null })).status, 401);
    assert.equal((await t.request({ method: 'GET', url: `${V1}/customers`, key: null, headers: { authorization: `Bearer ${t.key}` } })).status, 401);
  });

  test('a revoked key → 401', async () => {
    const { key, prefix } = await createKey(t.database.db, 'alpha');
    assert.equal((await revokeKey(t.database.db, prefix)), true);
    const res = await t.request({ method: 'GET', url: `${V1}/customers`, key });
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, UNAUTHORIZED);
  });

  test('a second key of the same project sees the same data', async () => {
    const { key } = await createKey(t.database.db, 'alpha');
    const res = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts/${contact.id}`, key });
    assert.equal(res.status, 200);
  });
});

describe('tenant isolation', () => {
  test("every route with the other project's key → 404 for alpha's resources", async () => {
    const single = routes().filter((r) => /\/(contacts|customers)\/[^?]+$/.test(r.url));
    assert.equal(single.length, 6);
    const byOtherShapes = ['15558000001', '%2B1%20555%20800%200001', 'US.8000001', 'US.ENT.8000001'].flatMap((id): Route[] => [
      { method: 'GET', url: `${V1}/whatsapp/contacts/${id}` },
      { method: 'PATCH', url: `${V1}/whatsapp/contacts/${id}`, body: { contact: { display_name: 'x' } } },
      { method: 'DELETE', url: `${V1}/whatsapp/contacts/${id}` },
    ]);
    for (const route of [...single, ...byOtherShapes]) {
      const res = await t.request({ ...route, key: t.otherKey });
      assert.equal(res.status, 404, `${route.method} ${route.url}`);
      assert.match(res.body.error, /not found/);
    }
    await alphaIntact();
    assert.equal((await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts/US.ENT.8000001` })).status, 200);
  });

  test("the list endpoints return nothing of alpha's", async () => {
    const betaContact = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, key: t.otherKey, body: { contact: { wa_id: '+1 555 800 0001', profile_name: 'Beta Person' } } });
    assert.equal(betaContact.status, 201, 'the same number may exist in another project');
    assert.notEqual(betaContact.body.data.id, contact.id);
    const betaCustomer = await t.request({ method: 'POST', url: `${V1}/customers`, key: t.otherKey, body: { customer: { name: 'Beta Co', external_customer_id: 'alpha-ext' } } });
    assert.equal(betaCustomer.status, 201);

    const queries = ['', '?page=1&per_page=100', `?customer_id=${customer.id}`, '?customer_external_id=alpha-ext', '?has_customer=true', '?profile_name_contains=Alpha', '?wa_id_contains=1555800', '?business_scoped_user_id=US.8000001'];
    for (const q of queries) {
      const res = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts${q}`, key: t.otherKey });
      assert.equal(res.status, 200, q);
      assert.ok(res.body.data.every((c: { id: string }) => c.id === betaContact.body.data.id), q);
    }
    const all = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts`, key: t.otherKey });
    assert.deepEqual(all.body.data.map((c: { id: string }) => c.id), [betaContact.body.data.id]);
    const customers = await t.request({ method: 'GET', url: `${V1}/customers`, key: t.otherKey });
    assert.deepEqual(customers.body.data.map((c: { id: string }) => c.id), [betaCustomer.body.data.id]);
    assert.equal(customers.body.meta.total_count, 1);
    const byExt = await t.request({ method: 'GET', url: `${V1}/customers?external_customer_id=alpha-ext`, key: t.otherKey });
    assert.deepEqual(byExt.body.data.map((c: { id: string }) => c.id), [betaCustomer.body.data.id]);
  });

  test("the other project cannot attach alpha's customer", async () => {
    const res = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, key: t.otherKey, body: { contact: { wa_id: '+1 555 800 0077', customer_id: customer.id } } });
    assert.equal(res.status, 422);
    assert.match(res.body.error, /customer_id/);
  });
});

describe('rate limit', () => {
  test('4th request in a minute → 429 with Retry-After; other keys are unaffected', async () => {
    // A fixed one-minute window: do not start in its last seconds.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const limited = await startTestApp({ database: t.database, rateLimit: 3 });
    try {
      for (const remaining of ['2', '1', '0']) {
        const res = await limited.request({ method: 'GET', url: `${V1}/customers` });
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-ratelimit-limit'], '3');
        assert.equal(res.headers['x-ratelimit-remaining'], remaining);
      }
      const over = await limited.request({ method: 'GET', url: `${V1}/whatsapp/contacts` });
      assert.equal(over.status, 429);
      assert.equal(over.headers['x-ratelimit-remaining'], '0');
      // Whole seconds until the minute ends, not a constant 60.
      const untilReset = Math.ceil((60_000 - (Date.now() % 60_000)) / 1000);
      const retryAfter = Number(over.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && Math.abs(retryAfter - untilReset) <= 1, `Retry-After ${retryAfter}, ${untilReset} s to the minute's end`);
      assert.equal(typeof over.body.error, 'string');
      assert.equal((await limited.request({ method: 'POST', url: `${V1}/customers`, body: { customer: { name: 'Blocked' } } })).status, 429);
      const other = await limited.request({ method: 'GET', url: `${V1}/customers`, key: limited.otherKey });
      assert.equal(other.status, 200);
      assert.equal(other.headers['x-ratelimit-remaining'], '2');
      const blocked = await t.database.db.selectFrom('customers').select('id').where('name', '=', 'Blocked').execute();
      assert.equal(blocked.length, 0, 'a refused request does nothing');
    } finally {
      await limited.close();
    }
  });

  test('the proxy shares the key\'s limit across nodes and refuses in Meta\'s shape', async () => {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    // Two apps on one database are two nodes; the Platform API and the proxy draw on one count.
    const first = await startTestApp({ database: t.database, rateLimit: 3 });
    const second = await startTestApp({ database: t.database, rateLimit: 3 });
    try {
      const key = first.key;
      assert.equal((await first.request({ method: 'GET', url: `${V1}/customers`, key })).status, 200);
      const proxied = await second.request({ method: 'GET', url: '/meta/whatsapp/v23.0/555000111/settings', key: null, headers: { authorization: `Bearer ${key}` } });
      assert.notEqual(proxied.status, 429);
      assert.equal(proxied.headers['x-ratelimit-remaining'], '1');
      assert.equal((await first.request({ method: 'GET', url: `${V1}/customers`, key })).status, 200);
      const over = await second.request({ method: 'GET', url: '/meta/whatsapp/v23.0/555000111/settings', key: null, headers: { authorization: `Bearer ${key}` } });
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 4);
      assert.ok(Number(over.headers['retry-after']) >= 1 && Number(over.headers['retry-after']) <= 60);
      assert.equal((await first.request({ method: 'GET', url: `${V1}/customers`, key })).status, 429);
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('a key with limit 0 is unlimited and costs no database work', async () => {
    const { key, prefix } = await createKey(t.database.db, 'alpha', { rateLimit: 0 });
    for (let i = 0; i < 5; i++) {
      const res = await t.request({ method: 'GET', url: `${V1}/customers`, key });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-ratelimit-limit'], undefined);
    }
    const rows = await t.database.db.selectFrom('rate_limit_windows').select('key_prefix').where('key_prefix', '=', prefix).execute();
    assert.equal(rows.length, 0);
  });

  test('success responses carry the default limit headers', async () => {
    const res = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts` });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-ratelimit-limit'], '1000000');
    assert.match(String(res.headers['x-ratelimit-remaining']), /^\d+$/);
    const created = await t.request({ method: 'POST', url: `${V1}/customers`, body: { customer: { name: 'Headers' } } });
    assert.equal(created.status, 201);
    assert.ok(created.headers['x-ratelimit-remaining'] !== undefined);
  });
});

describe('service endpoints', () => {
  test('/healthz and /readyz answer 200 without a key', async () => {
    const health = await t.request({ method: 'GET', url: '/healthz', key: null });
    assert.equal(health.status, 200);
    const ready = await t.request({ method: 'GET', url: '/readyz', key: null });
    assert.equal(ready.status, 200);
  });

  test('/platform/v1/openapi.json is OpenAPI 3.1 listing every route with ApiKeyAuth', async () => {
    const res = await t.request({ method: 'GET', url: `${V1}/openapi.json`, key: null });
    assert.equal(res.status, 200);
    const doc = res.body;
    assert.match(doc.openapi, /^3\.1\./);
    const { type, in: where, name } = doc.components.securitySchemes.ApiKeyAuth;
    assert.deepEqual({ type, in: where, name }, { type: 'apiKey', in: 'header', name: 'X-API-Key' });
    const expected: Record<string, string[]> = {
      [`${V1}/whatsapp/contacts`]: ['get', 'post'],
      [`${V1}/whatsapp/contacts/{identifier}`]: ['delete', 'get', 'patch'],
      [`${V1}/customers`]: ['get', 'post'],
      [`${V1}/customers/{customer_id}`]: ['delete', 'get', 'patch'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      assert.ok(doc.paths[path], `missing ${path}`);
      const listed = Object.keys(doc.paths[path]).filter((m) => ['get', 'post', 'patch', 'put', 'delete'].includes(m)).sort();
      assert.deepEqual(listed, methods, path);
      for (const method of methods) {
        const op = doc.paths[path][method];
        const security = op.security ?? doc.security;
        assert.ok(Array.isArray(security) && security.some((s: Record<string, unknown>) => 'ApiKeyAuth' in s), `${method} ${path} security`);
        assert.ok(op.responses['401'], `${method} ${path} documents 401`);
      }
    }
    assert.equal(doc.paths[`${V1}/openapi.json`], undefined);
    // Routes added later are covered too: every documented /platform/v1 operation requires the key.
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { security?: Record<string, unknown>[] }>>)) {
      if (!path.startsWith(V1)) continue;
      for (const [method, op] of Object.entries(item).filter(([m]) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))) {
        const security = op.security ?? doc.security;
        assert.ok(security.some((s: Record<string, unknown>) => 'ApiKeyAuth' in s), `${method} ${path} security`);
        const url = path.replace(/\{[^}]+\}/g, contact.id);
        const res = await t.request({ method: method.toUpperCase() as Route['method'], url, key: null, body: method === 'get' || method === 'delete' ? undefined : {} });
        assert.equal(res.status, 401, `${method} ${url} without a key`);
        assert.deepEqual(res.body, UNAUTHORIZED);
      }
    }
  });

  test('/docs serves HTML', async () => {
    let res = await t.request({ method: 'GET', url: '/docs', key: null });
    for (let hops = 0; hops < 3 && res.status >= 300 && res.status < 400; hops++) {
      res = await t.request({ method: 'GET', url: new URL(String(res.headers.location), 'http://localhost/docs/').pathname, key: null });
    }
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/html/);
    assert.match(res.text, /<html/i);
  });

  test('unknown routes are 404 with an error body', async () => {
    const res = await t.request({ method: 'GET', url: `${V1}/nothing-here` });
    assert.equal(res.status, 404);
    assert.equal(typeof res.body.error, 'string');
  });
});
