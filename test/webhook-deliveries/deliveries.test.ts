// GET /webhook_deliveries through the real app, on deliveries written straight into the tables
// (the dispatcher is not under test here), and the 30-day purge. Answers are checked against
// Kapso's published schemas.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Insertable } from 'kysely';
import type { WebhookDeliveriesTable } from '../../src/db/schema.ts';
import { purgeOldDeliveries } from '../../src/webhook-deliveries/repo.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { ISO_MICROS } from '../helpers/contacts.ts';
import { decodeCursor } from '../helpers/inbound.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';

const BASE = '/platform/v1/webhook_deliveries';
const LIST = 'listWebhookDeliveries';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const SECRET = 'whsec-DO-NOT-LEAK-4f1c';
const HEADER_VALUE = 'header-DO-NOT-LEAK-77aa';
const BODY_MARKER = 'body-DO-NOT-LEAK-9d2e';
const ERROR_MARKER = 'error-DO-NOT-LEAK-c0de';

const NUM_LIVE = '1100000000001';
const NUM_GONE = '1100000000002';
const NUM_BETA = '2200000000001';
const FIELDS = [
  'id', 'event', 'status', 'attempt_count', 'response_status', 'delivered_at', 'failed_at', 'last_attempt_at',
  'webhook_id', 'webhook_url', 'whatsapp_config_id', 'phone_number_id', 'conversation_phone_number', 'created_at',
].sort();

/** Kapso's schemas checked along the way; left out (and reported as skipped) without the document. */
const kapso = kapsoChecksAlongside('Delivery list answers');

let t: TestApp;
const project = { alpha: '', beta: '' };
const hook = { a1: '', a2: '', beta: '' };
const number = { live: '', goneAlpha: '', liveBetaOfGone: '', beta: '' };
/** Alpha's deliveries by name, with their age in ms. */
const d: Record<string, { id: string; age: number }> = {};
let betaDelivery = '';

type DeliveryInput = Partial<Insertable<WebhookDeliveriesTable>> & { age: number };

async function insertDelivery(input: DeliveryInput): Promise<string> {
  const { age, ...overrides } = input;
  const row = await t.database.db
    .insertInto('webhook_deliveries')
    .values({
      project_id: project.alpha,
      webhook_id: hook.a1,
      webhook_url: 'https://hooks.example.test/a1',
      event: 'whatsapp.message.received',
      idempotency_key: randomUUID(),
      body: JSON.stringify({ marker: BODY_MARKER }),
      created_at: new Date(Date.now() - age).toISOString(),
      ...overrides,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function named(name: string, input: DeliveryInput): Promise<void> {
  d[name] = { id: await insertDelivery(input), age: input.age };
}

async function insertWebhook(projectId: string, url: string): Promise<string> {
  const row = await t.database.db
    .insertInto('webhooks')
    .values({ project_id: projectId, url, secret_key: SECRET, headers: JSON.stringify({ 'X-Custom': HEADER_VALUE }) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function insertNumber(projectId: string, phoneNumberId: string, deleted: boolean): Promise<string> {
  const row = await t.database.db
    .insertInto('phone_numbers')
    .values({
      project_id: projectId,
      phone_number_id: phoneNumberId,
      name: `n${phoneNumberId}`,
      business_account_id: 'waba-1',
      access_token_sealed: Buffer.from('sealed'),
      webhook_verify_token: null,
      display_phone_number: null,
      verified_name: null,
      webhook_verified_at: null,
      customer_id: null,
      deleted_at: deleted ? new Date().toISOString() : null,
    })
    .returning('internal_id')
    .executeTakeFirstOrThrow();
  return row.internal_id;
}

function ok(response: TestResponse): any {
  assert.equal(response.status, 200, response.text);
  kapso.assertResponse(LIST, 200, response.body);
  return response.body;
}

function error(response: TestResponse, status: number, names: string): void {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  assert.ok(response.body.error.includes(names), `"${response.body.error}" names ${names}`);
}

const list = (query = '', key?: string) => t.request({ method: 'GET', url: `${BASE}${query ? `?${query}` : ''}`, ...(key ? { key } : {}) });
const listIds = async (query = '', key?: string) => (ok(await list(query, key)).data as { id: string }[]).map((row) => row.id);

/** The expected order: newest first, ties broken by id descending. */
function expected(names: string[]): string[] {
  return names
    .map((name) => d[name]!)
    .sort((x, y) => x.age - y.age || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
    .map((row) => row.id);
}

const WITHIN_24H = ['recentDelivered', 'recentFailed', 'retrying', 'orphan', 'tieA', 'tieB', 'edge24In'];
const WITHIN_7D = [...WITHIN_24H, 'edge24Out', 'edge7dIn'];
const WITHIN_30D = [...WITHIN_7D, 'edge7dOut', 'edge30dIn'];

before(async () => {
  t = await startTestApp();
  const projects = await t.database.db.selectFrom('projects').select(['id', 'name']).execute();
  project.alpha = projects.find((p) => p.name === 'alpha')!.id;
  project.beta = projects.find((p) => p.name === 'beta')!.id;
  hook.a1 = await insertWebhook(project.alpha, 'https://hooks.example.test/a1');
  hook.a2 = await insertWebhook(project.alpha, 'https://hooks.example.test/a2');
  hook.beta = await insertWebhook(project.beta, 'https://hooks.example.test/beta');
  number.live = await insertNumber(project.alpha, NUM_LIVE, false);
  // Removed from alpha, then connected in beta: alpha's deliveries keep alpha's id.
  number.goneAlpha = await insertNumber(project.alpha, NUM_GONE, true);
  number.liveBetaOfGone = await insertNumber(project.beta, NUM_GONE, false);
  number.beta = await insertNumber(project.beta, NUM_BETA, false);

  const at = (age: number) => new Date(Date.now() - age).toISOString();
  // One instant for both columns: two calls of at() can straddle a millisecond.
  const deliveredAt = at(HOUR - 1000);
  await named('recentDelivered', {
    age: 1 * HOUR, status: 'delivered', attempt_count: 1, response_status: 200, delivered_at: deliveredAt, last_attempt_at: deliveredAt,
    phone_number_id: NUM_LIVE, conversation_phone_number: '15550001111',
  });
  const failedAt = at(HOUR);
  await named('recentFailed', {
    age: 2 * HOUR, status: 'failed', attempt_count: 4, response_status: 500, failed_at: failedAt, last_attempt_at: failedAt,
    last_error: ERROR_MARKER, webhook_id: hook.a2, webhook_url: 'https://hooks.example.test/a2', event: 'whatsapp.conversation.created', phone_number_id: NUM_GONE,
  });
  // Still retrying after an error: pending, not failed.
  await named('retrying', { age: 3 * HOUR, status: 'pending', attempt_count: 1, response_status: 503, last_attempt_at: at(3 * HOUR - 1000), last_error: ERROR_MARKER, phone_number_id: NUM_BETA });
  await named('orphan', { age: 4 * HOUR, webhook_id: null, webhook_url: 'https://hooks.example.test/deleted', event: 'whatsapp.contact.created' });
  const tie = new Date(Date.now() - 5 * HOUR).toISOString();
  await named('tieA', { age: 5 * HOUR, created_at: tie, status: 'delivered' });
  await named('tieB', { age: 5 * HOUR, created_at: tie, status: 'delivered' });
  await named('edge24In', { age: DAY - MINUTE, status: 'delivered' });
  await named('edge24Out', { age: DAY + MINUTE, status: 'failed' });
  await named('edge7dIn', { age: 7 * DAY - MINUTE, status: 'delivered', webhook_id: hook.a2 });
  await named('edge7dOut', { age: 7 * DAY + MINUTE, status: 'failed' });
  await named('edge30dIn', { age: 30 * DAY - 5 * MINUTE, status: 'delivered' });
  await named('tooOld', { age: 30 * DAY + MINUTE, status: 'delivered' });
  betaDelivery = await insertDelivery({ age: HOUR, project_id: project.beta, webhook_id: hook.beta, webhook_url: 'https://hooks.example.test/beta', phone_number_id: NUM_GONE });
});
after(async () => t?.close());

describe('list', () => {
  test('the last 24 hours by default, newest first (ties by id), in Kapso’s shape', async () => {
    const body = ok(await list());
    assert.deepEqual(body.data.map((row: { id: string }) => row.id), expected(WITHIN_24H));
    assert.deepEqual(await listIds('period=24h'), expected(WITHIN_24H));
    for (const row of body.data) {
      assert.deepEqual(Object.keys(row).sort(), FIELDS);
      assert.match(row.created_at, ISO_MICROS);
    }
    assert.equal(body.paging.next, null);
    assert.equal(body.paging.previous, null);
  });

  test('every field of a delivered, a failed and a pending delivery', async () => {
    const rows = (ok(await list('limit=100')).data as Record<string, unknown>[]);
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    const delivered = byId.get(d.recentDelivered!.id)!;
    assert.equal(delivered.event, 'whatsapp.message.received');
    assert.equal(delivered.status, 'delivered');
    assert.equal(delivered.attempt_count, 1);
    assert.equal(delivered.response_status, 200);
    assert.match(delivered.delivered_at as string, ISO_MICROS);
    assert.equal(delivered.delivered_at, delivered.last_attempt_at);
    assert.equal(delivered.failed_at, null);
    assert.equal(delivered.webhook_id, hook.a1);
    assert.equal(delivered.webhook_url, 'https://hooks.example.test/a1');
    assert.equal(delivered.phone_number_id, NUM_LIVE);
    assert.equal(delivered.whatsapp_config_id, number.live);
    assert.equal(delivered.conversation_phone_number, '15550001111');

    const failed = byId.get(d.recentFailed!.id)!;
    assert.deepEqual([failed.status, failed.attempt_count, failed.response_status, failed.delivered_at], ['failed', 4, 500, null]);
    assert.match(failed.failed_at as string, ISO_MICROS);
    assert.equal(failed.webhook_id, hook.a2);
    // Removed from alpha and now connected in beta: still alpha's own connection.
    assert.equal(failed.whatsapp_config_id, number.goneAlpha);

    const retrying = byId.get(d.retrying!.id)!;
    assert.deepEqual([retrying.status, retrying.response_status, retrying.delivered_at, retrying.failed_at], ['pending', 503, null, null]);
    // Connected in beta only: not a number of alpha's.
    assert.equal(retrying.phone_number_id, NUM_BETA);
    assert.equal(retrying.whatsapp_config_id, null);

    const orphan = byId.get(d.orphan!.id)!;
    assert.deepEqual(
      [orphan.status, orphan.attempt_count, orphan.response_status, orphan.last_attempt_at, orphan.webhook_id, orphan.phone_number_id, orphan.whatsapp_config_id, orphan.conversation_phone_number],
      ['pending', 0, null, null, null, null, null, null],
    );
    assert.equal(orphan.webhook_url, 'https://hooks.example.test/deleted');
  });

  test('period: 7d and 30d reach further back; nothing older than 30 days', async () => {
    assert.deepEqual(await listIds('period=7d&limit=100'), expected(WITHIN_7D));
    assert.deepEqual(await listIds('period=30d&limit=100'), expected(WITHIN_30D));
    assert.ok(!(await listIds('period=30d&limit=100')).includes(d.tooOld!.id));
  });

  test('status filters each state', async () => {
    assert.deepEqual(await listIds('status=pending'), expected(['retrying', 'orphan']));
    assert.deepEqual(await listIds('status=delivered'), expected(['recentDelivered', 'tieA', 'tieB', 'edge24In']));
    assert.deepEqual(await listIds('status=failed'), expected(['recentFailed']));
    assert.deepEqual(await listIds('status=failed&period=30d'), expected(['recentFailed', 'edge24Out', 'edge7dOut']));
  });

  test('event matches exactly', async () => {
    assert.deepEqual(await listIds('event=whatsapp.conversation.created'), [d.recentFailed!.id]);
    assert.deepEqual(await listIds('event=whatsapp.contact.created'), [d.orphan!.id]);
    assert.deepEqual(await listIds('event=whatsapp.message'), []);
    assert.deepEqual(await listIds('event=whatsapp.message.received&status=pending'), [d.retrying!.id]);
  });

  test('webhook_id keeps one webhook’s deliveries (any case); another project’s webhook gives none', async () => {
    assert.deepEqual(await listIds(`webhook_id=${hook.a2}&period=30d`), expected(['recentFailed', 'edge7dIn']));
    assert.deepEqual(await listIds(`webhook_id=${hook.a2.toUpperCase()}&period=30d`), expected(['recentFailed', 'edge7dIn']));
    assert.deepEqual(await listIds(`webhook_id=${hook.beta}&period=30d`), []);
    assert.deepEqual(await listIds(`webhook_id=${randomUUID()}`), []);
  });

  test('errors_only=true keeps failed deliveries only (not pending ones being retried)', async () => {
    assert.deepEqual(await listIds('errors_only=true'), [d.recentFailed!.id]);
    assert.deepEqual(await listIds('errors_only=true&period=30d'), expected(['recentFailed', 'edge24Out', 'edge7dOut']));
    assert.deepEqual(await listIds('errors_only=false'), expected(WITHIN_24H));
    assert.deepEqual(await listIds('errors_only=true&status=delivered'), []);
    assert.deepEqual(await listIds(`errors_only=true&webhook_id=${hook.a1}&period=30d`), expected(['edge24Out', 'edge7dOut']));
  });
});

describe('pagination', () => {
  const all = () => expected(WITHIN_30D);

  test('forward with next until the end, then back with previous', async () => {
    const pages: string[][] = [];
    const bodies: any[] = [];
    let query = 'period=30d&limit=3';
    for (;;) {
      const body = ok(await list(query));
      bodies.push(body);
      pages.push(body.data.map((row: { id: string }) => row.id));
      if (body.paging.next === null) break;
      query = `period=30d&limit=3&after=${encodeURIComponent(body.paging.next)}`;
      assert.ok(pages.length < 10, 'pagination terminates');
    }
    assert.deepEqual(pages.flat(), all());
    assert.deepEqual(pages.map((p) => p.length), [3, 3, 3, 2]);
    assert.equal(bodies[0].paging.previous, null);
    assert.deepEqual(decodeCursor(bodies[0].paging.cursors.after).columns, ['created_at', 'id']);
    assert.deepEqual(decodeCursor(bodies[0].paging.cursors.after).values[1], pages[0]![2]);

    const back: string[][] = [pages[pages.length - 1]!];
    let previous = bodies[bodies.length - 1].paging.previous as string | null;
    while (previous !== null) {
      const body = ok(await list(`period=30d&limit=3&before=${encodeURIComponent(previous)}`));
      back.unshift(body.data.map((row: { id: string }) => row.id));
      previous = body.paging.previous;
      assert.ok(back.length < 10, 'pagination terminates');
    }
    assert.deepEqual(back, pages);
  });

  test('filters hold across pages', async () => {
    const first = ok(await list('status=delivered&period=30d&limit=2'));
    const second = ok(await list(`status=delivered&period=30d&limit=2&after=${encodeURIComponent(first.paging.next)}`));
    const third = ok(await list(`status=delivered&period=30d&limit=2&after=${encodeURIComponent(second.paging.next)}`));
    const ids = [...first.data, ...second.data, ...third.data].map((row: { id: string }) => row.id);
    assert.deepEqual(ids, expected(['recentDelivered', 'tieA', 'tieB', 'edge24In', 'edge7dIn', 'edge30dIn']));
    assert.equal(third.paging.next, null);
  });

  test('an empty page has no cursors', async () => {
    const body = ok(await list('event=nothing.here'));
    assert.deepEqual(body, { data: [], paging: { cursors: {}, next: null, previous: null } });
  });
});

describe('errors', () => {
  test('bad limit or cursor → 400', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=abc']) error(await list(query), 400, 'limit');
    error(await list('after=not-a-cursor'), 400, 'after');
    error(await list(`before=${Buffer.from('{"values":["x","y"]}').toString('base64')}`), 400, 'before');
    const cursor = Buffer.from(JSON.stringify({ values: ['2025-03-26T15:05:00.000000Z', randomUUID()], columns: ['created_at', 'id'] })).toString('base64');
    const both = await list(`after=${encodeURIComponent(cursor)}&before=${encodeURIComponent(cursor)}`);
    assert.equal(both.status, 400, both.text);
  });

  test('bad filter values → 422 naming the parameter', async () => {
    error(await list('status=bounced'), 422, 'status');
    error(await list('period=1h'), 422, 'period');
    error(await list('period=30D'), 422, 'period');
    error(await list('webhook_id=not-a-uuid'), 422, 'webhook_id');
    error(await list('errors_only=maybe'), 422, 'errors_only');
    error(await list('event=a%00b'), 422, 'event');
    error(await list(`event=${'x'.repeat(201)}`), 422, 'event');
  });

  test('no key → 401', async () => {
    const response = await t.request({ method: 'GET', url: BASE, key: null });
    error(response, 401, 'API key');
  });
});

describe('tenancy and secrecy', () => {
  test('each project sees only its own deliveries', async () => {
    assert.deepEqual(await listIds('period=30d', t.otherKey), [betaDelivery]);
    const betaRow = ok(await list('', t.otherKey)).data[0];
    // The same Meta number, connected in beta: beta's connection.
    assert.equal(betaRow.whatsapp_config_id, number.liveBetaOfGone);
    assert.deepEqual(await listIds(`webhook_id=${hook.a1}&period=30d`, t.otherKey), []);
    assert.ok(!(await listIds('period=30d&limit=100')).includes(betaDelivery));
  });

  test('no body, headers, secret or error text in the response', async () => {
    const response = await list('period=30d&limit=100');
    ok(response);
    for (const marker of [SECRET, HEADER_VALUE, BODY_MARKER, ERROR_MARKER, 'idempotency_key', 'secret', 'headers', 'project_id']) {
      assert.ok(!response.text.includes(marker), `response does not contain ${marker}`);
    }
  });
});

describe('purge', () => {
  test('deletes deliveries older than 30 days with their attempts, in chunks, in every project; keeps newer ones', async () => {
    const db = t.database.db;
    const old = [d.tooOld!.id];
    for (let i = 0; i < 4; i++) old.push(await insertDelivery({ age: 31 * DAY + i * MINUTE }));
    old.push(await insertDelivery({ age: 45 * DAY, project_id: project.beta, webhook_id: hook.beta }));
    const attempt = (deliveryId: string, n: number) => ({ delivery_id: deliveryId, attempt: n, started_at: new Date().toISOString(), duration_ms: 12, response_status: 500, error: null });
    await db.insertInto('webhook_attempts').values([attempt(d.tooOld!.id, 1), attempt(d.tooOld!.id, 2), attempt(d.edge30dIn!.id, 1)]).execute();
    const before = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();

    // A chunk of 2 makes the six old rows take several statements.
    assert.equal(await purgeOldDeliveries(db, new Date(), 2), old.length);

    const left = await db.selectFrom('webhook_deliveries').select('id').execute();
    assert.equal(left.length, Number(before.n) - old.length);
    const leftIds = new Set(left.map((row) => row.id));
    for (const id of old) assert.ok(!leftIds.has(id), `old delivery ${id} is gone`);
    for (const name of WITHIN_30D) assert.ok(leftIds.has(d[name]!.id), `${name} is kept`);
    assert.ok(leftIds.has(betaDelivery));
    const attempts = await db.selectFrom('webhook_attempts').select('delivery_id').execute();
    assert.deepEqual(attempts.map((row) => row.delivery_id), [d.edge30dIn!.id]);

    // Nothing more to do: a second run deletes nothing.
    assert.equal(await purgeOldDeliveries(db, new Date()), 0);
    // Thirty days from a later "now" reaches the rows kept above.
    const later = new Date(Date.now() + 10 * MINUTE);
    assert.equal(await purgeOldDeliveries(db, later), 1);
    assert.ok(!(await db.selectFrom('webhook_deliveries').select('id').where('id', '=', d.edge30dIn!.id).execute()).length);
    assert.deepEqual(await db.selectFrom('webhook_attempts').select('id').execute(), []);
  });
});
