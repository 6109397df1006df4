// GET /platform/v1/api_logs through the real app: rows recorded by the hook for answered requests
// (after a flush), the filters, cursor paging, tenant isolation, and Kapso's schema for each answer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ApiLogRecorder } from '../../src/api-logs/recorder.ts';
import { type ApiLogEntry, insertApiLogs } from '../../src/api-logs/repo.ts';
import { createKey } from '../../src/projects/service.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { ISO_MICROS } from '../helpers/contacts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { decodeCursor } from '../helpers/inbound.ts';
import { kapsoChecksAlongside, kapsoOracle, kapsoTest } from '../helpers/kapso-oracle.ts';

const LOGS = '/platform/v1/api_logs';
const CONTACTS = '/platform/v1/whatsapp/contacts';
const UNKNOWN_CONTACT = '0f8fad5b-d9cb-469f-a165-70867728950e';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const FIELDS = ['id', 'endpoint', 'http_method', 'response_status', 'response_time_ms', 'ip_address', 'error_message', 'created_at', 'api_key_id', 'api_key_name'];

const kapso = kapsoChecksAlongside('API log answers');

let database: TestDatabase;
let recorder: ApiLogRecorder;
let t: TestApp;
/** A named key of project alpha, and one limited to one request a minute. */
const named = { key: '', id: '', projectId: '' };
let limitedKey = '';

before(async () => {
  database = await createTestDatabase();
  // Written only when a test flushes (or at close), so that each test decides what is in the table.
  recorder = new ApiLogRecorder(database.db, pino({ level: 'silent' }), { flushMs: 60 * 60 * 1000 });
  t = await startTestApp({ database, apiLog: recorder });
  const created = await createKey(database.db, 'alpha', { name: 'CI bot' });
  Object.assign(named, { key: created.key, id: created.id, projectId: created.project.id });
  limitedKey = (await createKey(database.db, 'alpha', { name: 'slow lane', rateLimit: 1 })).key;
});
after(async () => {
  await t?.close();
  await recorder?.close();
  await database?.drop();
});

async function list(query: string, key?: string): Promise<TestResponse> {
  const response = await t.request({ method: 'GET', url: `${LOGS}${query}`, key });
  if (response.status === 200) {
    kapso.assertResponse('listApiLogs', 200, response.body);
    for (const row of response.body.data) assert.deepEqual(Object.keys(row).sort(), [...FIELDS].sort());
  }
  return response;
}

async function listed(query: string, key?: string): Promise<any[]> {
  const response = await list(query, key);
  assert.equal(response.status, 200, response.text);
  return response.body.data;
}

/** Rows written straight into the table (for ages and volumes the hook cannot make quickly). */
async function insertRows(count: number, overrides: Partial<ApiLogEntry> & { ageMs?: number }): Promise<void> {
  const { ageMs = 0, ...rest } = overrides;
  const now = Date.now();
  const entries: ApiLogEntry[] = Array.from({ length: count }, (_, i) => ({
    projectId: named.projectId,
    apiKeyId: named.id,
    apiKeyName: 'CI bot',
    createdAt: new Date(now - ageMs - i * 1000).toISOString(),
    method: 'GET',
    endpoint: `/platform/v1/whatsapp/messages/${i}`,
    statusCode: 200,
    responseTimeMs: 1.5,
    ip: '127.0.0.1',
    errorMessage: null,
    ...rest,
  }));
  await insertApiLogs(database.db, entries);
}

describe('recorded requests', () => {
  let ok: TestResponse;
  let missing: TestResponse;
  let invalid: TestResponse;
  let limited: TestResponse;

  before(async () => {
    ok = await t.request({ method: 'GET', url: `${CONTACTS}?phone_number=4155550&limit=5`, key: named.key });
    missing = await t.request({ method: 'GET', url: `${CONTACTS}/${UNKNOWN_CONTACT}?token=secret-in-query`, key: named.key });
    invalid = await t.request({ method: 'POST', url: CONTACTS, key: named.key, body: { contact: { wa_id: 'not a number' } } });
    await t.request({ method: 'GET', url: CONTACTS, key: limitedKey });
    limited = await t.request({ method: 'GET', url: CONTACTS, key: limitedKey });
    await t.request({ method: 'GET', url: CONTACTS, key: null });
    await t.request({ method: 'GET', url: CONTACTS, key: 'prl_AAAAAAAA_' + 'x'.repeat(43) });
  });

  test('nothing is written on the request path: the rows wait in the buffer until a flush', async () => {
    assert.equal(ok.status, 200, ok.text);
    assert.ok(recorder.buffered >= 5, `buffered ${recorder.buffered}`);
    const before = await database.db.selectFrom('api_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(before.n), 0);
    await recorder.flush();
    assert.equal(recorder.buffered, 0);
  });

  test('successful and failed requests appear with the key id and name, method, status and error', async () => {
    const rows = await listed(`?endpoint=${encodeURIComponent('/whatsapp/contacts')}&limit=100`);
    const mine = rows.filter((row) => row.api_key_id === named.id);
    assert.equal(mine.length, 3, JSON.stringify(rows));
    // Newest first.
    const [post, notFound, listing] = mine;
    assert.equal(listing.http_method, 'GET');
    assert.equal(listing.endpoint, CONTACTS);
    assert.equal(listing.response_status, 200);
    assert.equal(listing.error_message, null);
    assert.equal(listing.api_key_name, 'CI bot');
    assert.equal(listing.ip_address, '127.0.0.1');
    assert.ok(typeof listing.response_time_ms === 'number' && listing.response_time_ms >= 0);
    assert.match(listing.created_at, ISO_MICROS);

    assert.equal(missing.status, 404);
    assert.equal(notFound.endpoint, `${CONTACTS}/${UNKNOWN_CONTACT}`);
    assert.equal(notFound.response_status, 404);
    assert.equal(notFound.error_message, missing.body.error);

    assert.equal(invalid.status, 422, invalid.text);
    assert.equal(post.http_method, 'POST');
    assert.equal(post.response_status, 422);
    assert.equal(post.error_message, invalid.body.error);
  });

  test('a request refused by the rate limit is logged with its 429 and message', async () => {
    assert.equal(limited.status, 429);
    const rows = await listed('?status_code=429');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].api_key_name, 'slow lane');
    assert.equal(rows[0].error_message, limited.body.error);
  });

  test('no query string ever reaches the log, and requests without a valid key are not logged', async () => {
    const rows = await listed('?limit=100');
    assert.ok(rows.length >= 5);
    for (const row of rows) {
      assert.ok(!row.endpoint.includes('?'), row.endpoint);
      assert.ok(row.api_key_id !== null);
    }
    const stored = await database.db.selectFrom('api_logs').select(['endpoint', 'error_message']).execute();
    assert.ok(!JSON.stringify(stored).includes('secret-in-query'));
    assert.ok(!JSON.stringify(stored).includes('4155550'));
    // The two requests with no key and with an unknown key: 401s, not in the table.
    assert.equal(stored.filter((row) => row.error_message === 'Missing or invalid API key').length, 0);
  });
});

describe('filters', () => {
  before(async () => {
    await recorder.flush();
    await insertRows(2, { endpoint: '/platform/v1/Filters/Upper', statusCode: 500, errorMessage: 'Internal server error' });
    await insertRows(1, { endpoint: '/platform/v1/filters/old-2d', ageMs: 2 * DAY });
    await insertRows(1, { endpoint: '/platform/v1/filters/old-10d', ageMs: 10 * DAY });
    await insertRows(1, { endpoint: '/platform/v1/filters/old-40d', ageMs: 40 * DAY });
  });

  test('endpoint matches part of the path, case-insensitively, with % and _ taken literally', async () => {
    const rows = await listed('?endpoint=filters/UP');
    assert.equal(rows.length, 2);
    assert.ok(rows.every((row) => row.endpoint === '/platform/v1/Filters/Upper'));
    assert.deepEqual(await listed('?endpoint=filters%25'), []);
    assert.deepEqual(await listed('?endpoint=filters_upper'), []);
  });

  test('status_code and errors_only', async () => {
    const errors = await listed('?errors_only=true&limit=100');
    assert.ok(errors.length >= 5, JSON.stringify(errors));
    assert.ok(errors.every((row) => row.response_status >= 400));
    assert.ok(errors.some((row) => row.response_status === 500) && errors.some((row) => row.response_status === 404));
    const all = await listed('?errors_only=false&limit=100');
    assert.ok(all.some((row) => row.response_status === 200));
    const fivehundreds = await listed('?status_code=500');
    assert.equal(fivehundreds.length, 2);
    assert.ok(fivehundreds.every((row) => row.error_message === 'Internal server error'));
    assert.deepEqual(await listed('?status_code=500&endpoint=contacts'), []);
  });

  test('period: 24h by default, then 7d and 30d', async () => {
    const names = async (query: string) => (await listed(`?endpoint=filters/old&limit=100${query}`)).map((row) => row.endpoint.split('/').pop()).sort();
    assert.deepEqual(await names(''), []);
    assert.deepEqual(await names('&period=24h'), []);
    assert.deepEqual(await names('&period=7d'), ['old-2d']);
    assert.deepEqual(await names('&period=30d'), ['old-10d', 'old-2d']);
  });

  test('a bad filter value is refused with a message naming it; bad paging is a 400', async () => {
    const cases: [string, number, RegExp][] = [
      ['?status_code=abc', 422, /status_code/],
      ['?status_code=42', 422, /status_code/],
      ['?errors_only=maybe', 422, /errors_only/],
      ['?period=1y', 422, /period.*24h, 7d, 30d/],
      ['?endpoint=', 422, /endpoint/],
      ['?limit=0', 400, /limit/],
      ['?limit=101', 400, /limit/],
      ['?after=not-a-cursor', 400, /after/],
      [`?after=${'x'}&before=${'y'}`, 400, /after or before/],
    ];
    for (const [query, status, message] of cases) {
      const response = await list(query);
      assert.equal(response.status, status, `${query}: ${response.text}`);
      assert.match(response.body.error, message, query);
    }
  });
});

describe('paging and isolation', () => {
  before(async () => {
    await recorder.flush();
    await insertRows(25, { endpoint: '/platform/v1/paging/row' });
  });

  test('cursor pages walk every row once, newest first, and previous walks back', async () => {
    const seen: string[] = [];
    const pages: any[] = [];
    let query = '?endpoint=paging/row&limit=10';
    for (;;) {
      const response = await list(query);
      assert.equal(response.status, 200, response.text);
      pages.push(response.body);
      seen.push(...response.body.data.map((row: { id: string }) => row.id));
      const next = response.body.paging.next;
      if (next === null) break;
      assert.deepEqual(decodeCursor(next).columns, ['created_at', 'id']);
      query = `?endpoint=paging/row&limit=10&after=${encodeURIComponent(next)}`;
    }
    assert.deepEqual(pages.map((page) => page.data.length), [10, 10, 5]);
    assert.equal(new Set(seen).size, 25);
    const times = pages.flatMap((page) => page.data.map((row: { created_at: string }) => row.created_at));
    assert.deepEqual(times, [...times].sort().reverse());
    assert.equal(pages[0].paging.previous, null);
    const back = await list(`?endpoint=paging/row&limit=10&before=${encodeURIComponent(pages[2].paging.previous)}`);
    assert.deepEqual(back.body.data.map((row: { id: string }) => row.id), pages[1].data.map((row: { id: string }) => row.id));
  });

  test("another project's key never sees this project's rows", async () => {
    await t.request({ method: 'GET', url: CONTACTS, key: t.otherKey });
    await recorder.flush();
    const beta = await listed('?limit=100&period=30d', t.otherKey);
    assert.ok(beta.length >= 1);
    assert.ok(beta.every((row) => row.api_key_id !== named.id && row.endpoint.startsWith('/platform/v1/') && !row.endpoint.includes('paging')));
    const alpha = await listed('?limit=100&period=30d');
    const betaIds = new Set(beta.map((row) => row.id));
    assert.ok(alpha.every((row) => !betaIds.has(row.id)));
    // A cursor taken from alpha's list gives beta nothing of alpha's.
    const alphaPage = await list('?endpoint=paging/row&limit=5');
    const crossed = await listed(`?limit=100&period=30d&after=${encodeURIComponent(alphaPage.body.paging.next)}`, t.otherKey);
    assert.ok(crossed.every((row) => betaIds.has(row.id)));
  });
});

kapsoTest("a log row has exactly the fields of Kapso's ExternalApiLog", async () => {
  assert.deepEqual([...FIELDS].sort(), kapsoOracle().componentProperties('ExternalApiLog').sort());
  const oracle = kapsoOracle();
  const valid = { id: '2b7e4c1a-9d3f-4e8b-a6c5-1f0e9d8c7b6a', endpoint: '/x', http_method: 'GET', response_status: 200, response_time_ms: 1, created_at: '2026-03-04T09:12:44.503211Z' };
  assert.deepEqual(oracle.check('listApiLogs', 200, { data: [valid], paging: { cursors: {}, next: null, previous: null } }), []);
  assert.notDeepEqual(oracle.check('listApiLogs', 200, { data: [{ ...valid, response_status: '200' }], paging: { cursors: {}, next: null, previous: null } }), []);
});
