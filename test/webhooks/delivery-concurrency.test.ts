// Several nodes sharing the outbound work: three dispatchers and three delivery workers, each
// on a pool of its own, draining at the same time. Every event becomes exactly one delivery and
// every attempt is made exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/schema.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { deliveriesOf, deliveryWorker, dispatcher, insertWebhook, projectId, Receiver, separateDb, until } from '../helpers/receiver.ts';

const COUNT = 200;
const FAILURES = 30;
const SECRET = 'whsec_many-nodes';

let t: TestApp;
let receiver: Receiver;
let nodes: Kysely<Database>[] = [];

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
  nodes = [0, 1, 2].map(() => separateDb(t.database.url, 4));
});
after(async () => {
  await Promise.all(nodes.map((db) => db.destroy()));
  await receiver?.close();
  await t?.close();
});

test(`three workers draining ${COUNT} deliveries at once attempt each exactly once`, async () => {
  const alpha = await projectId(t.database.db, 'alpha');
  const hook = await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/many'), events: ['whatsapp.contact.created'], secret_key: SECRET });
  // The contacts trigger writes one outbox row per contact.
  await sql`
    INSERT INTO contacts (project_id, wa_id, display_name)
    SELECT ${alpha}, '1555' || lpad(n::text, 7, '0'), 'Bulk ' || n FROM generate_series(1, ${COUNT}) AS n`.execute(t.database.db);
  const events = await t.database.db.selectFrom('webhook_events').select('id').where('project_id', '=', alpha).execute();
  assert.equal(events.length, COUNT);

  // Three dispatchers at once: every event becomes exactly one delivery.
  const dispatched = await Promise.all(nodes.map((db) => dispatcher(db).drain()));
  assert.equal(dispatched.reduce((a, b) => a + b, 0), COUNT, 'each outbox row handled by one dispatcher');
  const deliveries = await deliveriesOf(t.database.db, hook);
  assert.equal(deliveries.length, COUNT);
  assert.deepEqual(deliveries.map((d) => d.idempotency_key).sort(), events.map((e) => e.id).sort(), 'one delivery per event');

  // Three workers at once, small claims so that they interleave; some attempts fail first.
  receiver.failNext(FAILURES, 500);
  const workers = nodes.map((db) => deliveryWorker(db, { concurrency: 10, retrySeconds: [0.05, 0.05, 0.05] }));
  const made = [0, 0, 0];
  const done = await until(
    () => Promise.all(workers.map(async (w, i) => (made[i]! += await w.drain()))),
    async () => {
      const rows = await deliveriesOf(t.database.db, hook);
      return rows.every((r) => r.status === 'delivered') ? rows : null;
    },
    'all deliveries',
    20_000,
  );

  const attempts = await t.database.db
    .selectFrom('webhook_attempts')
    .select(['delivery_id', 'attempt', 'response_status'])
    .where('delivery_id', 'in', done.map((d) => d.id))
    .execute();
  const firsts = attempts.filter((a) => a.attempt === 1);
  assert.equal(firsts.length, COUNT, 'exactly one first attempt per delivery');
  assert.equal(new Set(firsts.map((a) => a.delivery_id)).size, COUNT);
  assert.equal(attempts.length, COUNT + FAILURES, 'one extra attempt per failed request, no more');
  assert.equal(made.reduce((a, b) => a + b, 0), COUNT + FAILURES, 'the workers made exactly the recorded attempts');

  const requests = receiver.on('/many');
  assert.equal(requests.length, COUNT + FAILURES, 'one request per attempt');
  const perKey = new Map<string, number>();
  for (const r of requests) {
    assert.ok(Receiver.verify(r, SECRET));
    const key = String(r.headers['x-idempotency-key']);
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  assert.equal(perKey.size, COUNT);
  for (const d of done) {
    assert.equal(perKey.get(d.idempotency_key), d.attempt_count, `requests for ${d.idempotency_key} = its attempts`);
    const own = attempts.filter((a) => a.delivery_id === d.id).map((a) => a.attempt).sort((a, b) => a - b);
    assert.deepEqual(own, own.map((_, i) => i + 1));
  }
  const succeeded = requests.filter((r) => r.answered === 200).map((r) => String(r.headers['x-idempotency-key']));
  assert.equal(new Set(succeeded).size, COUNT, 'each event accepted exactly once');
  assert.equal(succeeded.length, COUNT);
});
