// GET /metrics through the real stack: Prometheus text, request counts by route template, the
// pool, queue depths and ages read from the database, the embedded-database gauge, the token,
// and a scrape that answers in time while the database does not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startTestApp, type TestApp } from '../helpers/app.ts';

/** The value of one sample, e.g. sample(text, 'parley_queue_items', { queue: 'jobs', state: 'failed' }). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(t: TestApp, headers: Record<string, string> = {}) {
  const response = await t.request({ method: 'GET', url: '/metrics', key: null, headers });
  return response;
}

describe('GET /metrics without PARLEY_METRICS_TOKEN', () => {
  let t: TestApp;
  let embedded = true;
  before(async () => {
    t = await startTestApp({ embeddedUp: () => embedded });
  });
  after(async () => t.close());

  test('answers Prometheus text with the process metrics', async () => {
    const response = await scrape(t);
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(response.text, /^# HELP process_cpu_user_seconds_total /m);
    assert.match(response.text, /^# TYPE parley_http_request_duration_seconds histogram$/m);
    assert.ok(sample(response.text, 'nodejs_heap_size_used_bytes')! > 0);
  });

  test('counts requests by route template, method and status, never by raw URL', async () => {
    const id = '7d0a6c52-0000-4000-8000-00000000abcd';
    for (let i = 0; i < 3; i++) assert.equal((await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${id}` })).status, 404);
    assert.equal((await t.request({ method: 'GET', url: `/no/such/route/${id}`, key: null })).status, 404);
    const text = (await scrape(t)).text;
    const labels = { method: 'GET', route: '/platform/v1/whatsapp/contacts/:identifier', status: '404' };
    assert.equal(sample(text, 'parley_http_requests_total', labels), 3);
    assert.equal(sample(text, 'parley_http_request_duration_seconds_count', labels), 3);
    assert.equal(sample(text, 'parley_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), 3);
    assert.equal(sample(text, 'parley_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.ok(!text.includes(id), 'a raw URL reached the labels');
  });

  test('reports the database pool', async () => {
    const text = (await scrape(t)).text;
    assert.ok(sample(text, 'parley_db_pool_connections')! >= 1);
    assert.notEqual(sample(text, 'parley_db_pool_idle_connections'), undefined);
    assert.equal(sample(text, 'parley_db_pool_in_use_connections'), sample(text, 'parley_db_pool_connections')! - sample(text, 'parley_db_pool_idle_connections')!);
    assert.equal(sample(text, 'parley_db_pool_waiting_clients'), 0);
  });

  test('reads queue depths and ages from the database at scrape time', async () => {
    const db = t.database.db;
    const project = await db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow();
    const before = (await scrape(t)).text;
    assert.equal(sample(before, 'parley_database_up'), 1);
    for (const queue of ['inbound_events', 'outbox_events', 'webhook_deliveries', 'jobs']) {
      assert.equal(sample(before, 'parley_queue_items', { queue, state: 'pending' }), 0, queue);
      assert.equal(sample(before, 'parley_queue_oldest_age_seconds', { queue, state: 'pending' }), 0, queue);
    }

    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
    await db.insertInto('meta_events').values([{ body: '{}', received_at: minutesAgo(5) }, { body: '{}' }, { body: '{}', state: 'processed' }]).execute();
    await db
      .insertInto('webhook_events')
      .values([
        { project_id: project.id, event: 'whatsapp.contact.created', subject: '{}', created_at: minutesAgo(2) },
        // Set aside by the dispatcher: failed, not pending, and its age must not count.
        { project_id: project.id, event: 'whatsapp.contact.created', subject: '{}', created_at: minutesAgo(30), dead_at: minutesAgo(20), last_error: 'boom' },
      ])
      .execute();
    const delivery = { project_id: project.id, webhook_url: 'https://example.com/h', event: 'whatsapp.contact.created' };
    await db
      .insertInto('webhook_deliveries')
      .values([
        { ...delivery, idempotency_key: 'k1', next_attempt_at: minutesAgo(3) },
        { ...delivery, idempotency_key: 'k2', next_attempt_at: new Date(Date.now() + 3_600_000).toISOString() },
        { ...delivery, idempotency_key: 'k3', status: 'failed' },
        { ...delivery, idempotency_key: 'k4', status: 'delivered' },
      ])
      .execute();
    await db
      .insertInto('jobs')
      .values([
        { kind: 'test.metrics', payload: '{}', run_at: minutesAgo(4) },
        { kind: 'test.metrics', payload: '{}', run_at: new Date(Date.now() + 3_600_000).toISOString() },
        { kind: 'test.metrics', payload: '{}', failed_at: minutesAgo(1), last_error: 'boom' },
      ])
      .execute();

    const text = (await scrape(t)).text;
    const items = (queue: string, state: string) => sample(text, 'parley_queue_items', { queue, state });
    const age = (queue: string) => sample(text, 'parley_queue_oldest_age_seconds', { queue, state: 'pending' })!;
    assert.equal(items('inbound_events', 'pending'), 2);
    assert.equal(items('outbox_events', 'pending'), 1);
    assert.equal(items('outbox_events', 'failed'), 1);
    assert.equal(items('webhook_deliveries', 'pending'), 2);
    assert.equal(items('webhook_deliveries', 'failed'), 1);
    assert.equal(items('jobs', 'pending'), 2);
    assert.equal(items('jobs', 'failed'), 1);
    // Ages: the oldest waiting item, within a minute's slack for a slow machine.
    assert.ok(age('inbound_events') >= 295 && age('inbound_events') < 360, String(age('inbound_events')));
    assert.ok(age('outbox_events') >= 115 && age('outbox_events') < 180, String(age('outbox_events')));
    assert.ok(age('webhook_deliveries') >= 175 && age('webhook_deliveries') < 240, String(age('webhook_deliveries')));
    assert.ok(age('jobs') >= 235 && age('jobs') < 300, String(age('jobs')));

    // Leave the shared tables as they were for the other tests of this file.
    await db.deleteFrom('jobs').where('kind', '=', 'test.metrics').execute();
    await db.deleteFrom('webhook_deliveries').where('webhook_url', '=', 'https://example.com/h').execute();
    await db.deleteFrom('webhook_events').where('project_id', '=', project.id).execute();
    await db.deleteFrom('meta_events').execute();
  });

  test('a database that does not answer cannot hold the scrape', async () => {
    // A lock on a queue table makes the queue query wait, as a stuck database would.
    const blocker = new pg.Client({ connectionString: t.database.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE meta_events IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const response = await scrape(t);
      const took = Date.now() - started;
      assert.equal(response.status, 200);
      assert.ok(took < 3000, `the scrape took ${took} ms`);
      assert.equal(sample(response.text, 'parley_database_up'), 0);
      assert.equal(sample(response.text, 'parley_queue_items', { queue: 'inbound_events', state: 'pending' }), undefined, 'stale queue numbers were reported');
      assert.ok(sample(response.text, 'process_cpu_user_seconds_total')! >= 0, 'the process metrics must still be there');
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    // Once the database answers again, so do the queue metrics.
    assert.equal(sample((await scrape(t)).text, 'parley_database_up'), 1);
  });

  test('reports whether the embedded database is up', async () => {
    embedded = true;
    assert.equal(sample((await scrape(t)).text, 'parley_embedded_database_up'), 1);
    embedded = false;
    assert.equal(sample((await scrape(t)).text, 'parley_embedded_database_up'), 0);
    embedded = true;
  });
});

describe('GET /metrics with PARLEY_METRICS_TOKEN', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ metricsToken: 's3cret-metrics-token' });
  });
  after(async () => t.close());

  test('refuses a scrape without the token or with a wrong one', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret-metrics-token' }, { authorization: 'Basic czNjcmV0' }];
    for (const headers of attempts) {
      const response = await scrape(t, headers);
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.equal(typeof response.body.error, 'string');
      assert.match(String(response.headers['www-authenticate']), /^Bearer/);
      assert.ok(!response.text.includes('parley_http_requests_total'));
    }
  });

  test('answers a scrape with the Bearer token', async () => {
    const response = await scrape(t, { authorization: 'Bearer s3cret-metrics-token' });
    assert.equal(response.status, 200);
    assert.match(response.text, /^# TYPE parley_http_requests_total counter$/m);
  });

  test('an API key is no substitute for the token', async () => {
    const response = await t.request({ method: 'GET', url: '/metrics' });
    assert.equal(response.status, 401);
  });

  test('leaves out the embedded database gauge when the server runs on an external database', async () => {
    const text = (await scrape(t, { authorization: 'Bearer s3cret-metrics-token' })).text;
    assert.equal(sample(text, 'parley_embedded_database_up'), undefined);
  });
});
