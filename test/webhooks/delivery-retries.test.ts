// Retries against a real receiver: the schedule (gaps at least the configured delays), giving
// up, a receiver that is down and then up, one that hangs, a worker restarted between attempts
// (new pool), and the SSRF check at delivery time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createKey } from '../../src/projects/service.ts';
import { newContact } from '../helpers/contacts.ts';
import {
  attemptsOf, deliveriesOf, deliveryWorker, dispatcher, freePort, insertWebhook, RETRY_SECONDS, Receiver, separateDb, until,
} from '../helpers/receiver.ts';

const SECRET = 'whsec_retries-Zr8';

let t: TestApp;
let receiver: Receiver;

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
});
after(async () => {
  await receiver?.close();
  await t?.close();
});

/**
 * A project of its own with one webhook on `path` and `count` contacts created through the API,
 * dispatched into deliveries. Returns the webhook id and the deliveries.
 */
async function queued(url: string, count = 1) {
  const { key, project } = await createKey(t.database.db, `retries-${randomBytes(4).toString('hex')}`);
  const hook = await insertWebhook(t.database.db, { project_id: project.id, url, events: ['whatsapp.contact.created'], secret_key: SECRET, headers: { 'x-case': url } });
  for (let i = 0; i < count; i++) await newContact(t, { display_name: `Retry ${i}` }, key);
  await dispatcher(t.database.db).drain();
  const deliveries = await deliveriesOf(t.database.db, hook);
  assert.equal(deliveries.length, count);
  return { hook, deliveries };
}

function finished(hook: string) {
  return async () => {
    const rows = await deliveriesOf(t.database.db, hook);
    return rows.every((r) => r.status !== 'pending') ? rows : null;
  };
}

const ms = (timestamp: string) => new Date(timestamp).getTime();

test('a receiver that fails twice gets a third attempt; gaps are at least the configured delays', async () => {
  const { hook } = await queued(receiver.url('/twice'));
  receiver.failNext(2, 503);
  const worker = deliveryWorker(t.database.db);
  const [delivery] = await until(() => worker.drain(), finished(hook), 'delivery');
  assert.equal(delivery!.status, 'delivered');
  assert.equal(delivery!.attempt_count, 3);
  assert.equal(delivery!.response_status, 200);
  assert.ok(delivery!.delivered_at);
  assert.equal(delivery!.failed_at, null);
  assert.equal(delivery!.last_error, null);

  const attempts = await attemptsOf(t.database.db, delivery!.id);
  assert.deepEqual(attempts.map((a) => [a.attempt, a.response_status]), [[1, 503], [2, 503], [3, 200]]);
  assert.match(String(attempts[0]!.error), /503/);
  assert.equal(attempts[2]!.error, null);

  const requests = receiver.on('/twice');
  assert.equal(requests.length, 3);
  assert.deepEqual(requests.map((r) => r.answered), [503, 503, 200]);
  assert.equal(new Set(requests.map((r) => r.headers['x-idempotency-key'])).size, 1, 'X-Idempotency-Key stable across retries');
  assert.equal(requests[0]!.headers['x-idempotency-key'], delivery!.idempotency_key);
  assert.equal(new Set(requests.map((r) => r.body.toString('hex'))).size, 1, 'every retry sends the same bytes');
  for (const r of requests) {
    assert.ok(Receiver.verify(r, SECRET));
    assert.equal(r.headers['x-webhook-payload-version'], 'v2');
    assert.equal(r.headers['x-case'], receiver.url('/twice'));
  }
  for (let i = 1; i < 3; i++) {
    const delay = RETRY_SECONDS[i - 1]! * 1000;
    assert.ok(requests[i]!.at - requests[i - 1]!.at >= delay, `receiver gap ${i}: ${requests[i]!.at - requests[i - 1]!.at} ms ≥ ${delay} ms`);
    const gap = ms(attempts[i]!.started_at) - ms(attempts[i - 1]!.started_at);
    assert.ok(gap >= delay, `recorded gap ${i}: ${gap} ms ≥ ${delay} ms`);
  }
});

test('a receiver that always fails gets 1 + len(retrySeconds) attempts, then the delivery is failed', async () => {
  const { hook } = await queued(receiver.url('/never'));
  receiver.failNext(Infinity, 500);
  const worker = deliveryWorker(t.database.db);
  try {
    const [delivery] = await until(() => worker.drain(), finished(hook), 'delivery to fail');
    assert.equal(delivery!.status, 'failed');
    assert.ok(delivery!.failed_at, 'failed_at is set');
    assert.equal(delivery!.delivered_at, null);
    assert.equal(delivery!.attempt_count, 1 + RETRY_SECONDS.length);
    assert.equal(delivery!.response_status, 500);
    assert.match(String(delivery!.last_error), /500/);
    const attempts = await attemptsOf(t.database.db, delivery!.id);
    assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3, 4]);
    assert.ok(attempts.every((a) => a.response_status === 500));
    assert.ok(ms(delivery!.failed_at!) >= ms(attempts[3]!.started_at));

    const sent = receiver.on('/never').length;
    assert.equal(sent, 4);
    assert.equal(await worker.drain(), 0, 'nothing is due any more');
    assert.equal(receiver.on('/never').length, sent);
  } finally {
    receiver.failNext(0);
  }
});

test('a receiver that is down and then up gets everything, each event once', async () => {
  const port = await freePort();
  const later = new Receiver();
  const { hook, deliveries } = await queued(`http://127.0.0.1:${port}/late`, 5);
  const worker = deliveryWorker(t.database.db, { retrySeconds: [0.1, 0.1, 0.1, 0.1] });
  try {
    await until(() => worker.drain(), async () => (await deliveriesOf(t.database.db, hook)).every((d) => d.attempt_count >= 1), 'first attempts');
    await later.listen(port);
    const done = await until(() => worker.drain(), finished(hook), 'deliveries');
    assert.ok(done.every((d) => d.status === 'delivered'), 'all delivered');

    const keys = later.requests.map((r) => String(r.headers['x-idempotency-key']));
    assert.deepEqual(keys.sort(), deliveries.map((d) => d.idempotency_key).sort(), 'each key reached the receiver exactly once');
    for (const d of done) {
      const attempts = await attemptsOf(t.database.db, d.id);
      assert.deepEqual(attempts.map((a) => a.attempt), attempts.map((_, i) => i + 1), 'attempts numbered without gaps or repeats');
      assert.equal(attempts.length, d.attempt_count);
      assert.ok(attempts.length >= 2);
      assert.match(String(attempts[0]!.error), /ECONNREFUSED/, 'the refused connection is recorded');
      assert.equal(attempts.at(-1)!.response_status, 200);
      assert.ok(attempts.slice(0, -1).every((a) => a.response_status === null && a.error !== null));
    }
  } finally {
    await later.close();
  }
});

test('a receiver that hangs is given up on after the timeout, and the retry gets through', async () => {
  const { hook } = await queued(receiver.url('/slow'));
  receiver.hang(true);
  const worker = deliveryWorker(t.database.db, { timeoutMs: 300 });
  try {
    await until(() => worker.drain(), async () => (await deliveriesOf(t.database.db, hook))[0]!.attempt_count >= 1, 'first attempt');
  } finally {
    receiver.hang(false);
  }
  const [delivery] = await until(() => worker.drain(), finished(hook), 'delivery');
  assert.equal(delivery!.status, 'delivered');
  const attempts = await attemptsOf(t.database.db, delivery!.id);
  assert.equal(attempts[0]!.error, 'no answer within 300 ms');
  assert.ok(attempts[0]!.duration_ms >= 290, `timed out after ${attempts[0]!.duration_ms} ms`);
  assert.equal(attempts.at(-1)!.response_status, 200);
  const requests = receiver.on('/slow');
  assert.equal(requests.length, attempts.length, 'one request per attempt');
  assert.equal(new Set(requests.map((r) => r.headers['x-idempotency-key'])).size, 1);
});

test('a worker stopped after a failed attempt is replaced by a new one (new pool) that finishes the job', async () => {
  const { hook, deliveries } = await queued(receiver.url('/restart'));
  receiver.failNext(1, 502);
  const firstDb = separateDb(t.database.url);
  const first = deliveryWorker(firstDb, { retrySeconds: [0.3, 0.3, 0.3] });
  first.start();
  try {
    await until(async () => undefined, async () => (await attemptsOf(t.database.db, deliveries[0]!.id)).length === 1, 'first attempt');
  } finally {
    await first.stop();
    await firstDb.destroy();
  }
  const [midway] = await deliveriesOf(t.database.db, hook);
  assert.equal(midway!.status, 'pending', 'waiting for its retry when the worker stopped');
  assert.equal(midway!.attempt_count, 1);
  assert.equal(midway!.locked_until, null, 'the failed attempt released its lease');

  const secondDb = separateDb(t.database.url);
  const second = deliveryWorker(secondDb, { retrySeconds: [0.3, 0.3, 0.3] });
  second.start();
  try {
    const [done] = await until(async () => undefined, finished(hook), 'delivery by the new worker');
    assert.equal(done!.status, 'delivered');
    assert.equal(done!.attempt_count, 2);
  } finally {
    await second.stop();
    await secondDb.destroy();
  }
  const requests = receiver.on('/restart');
  assert.deepEqual(requests.map((r) => r.answered), [502, 200]);
  assert.equal(requests[0]!.headers['x-idempotency-key'], requests[1]!.headers['x-idempotency-key']);
  assert.ok(requests[0]!.body.equals(requests[1]!.body));
  assert.deepEqual((await attemptsOf(t.database.db, deliveries[0]!.id)).map((a) => [a.attempt, a.response_status]), [[1, 502], [2, 200]]);
});

test('SSRF: with private destinations refused, a webhook on 127.0.0.1 is never contacted and the refusal is recorded', async () => {
  const { hook } = await queued(receiver.url('/ssrf'));
  const worker = deliveryWorker(t.database.db, { allowPrivate: false, retrySeconds: [0.05] });
  const [delivery] = await until(() => worker.drain(), finished(hook), 'delivery to fail');
  assert.equal(delivery!.status, 'failed');
  assert.equal(delivery!.response_status, null);
  const attempts = await attemptsOf(t.database.db, delivery!.id);
  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.equal(a.response_status, null);
    assert.match(String(a.error), /127\.0\.0\.1.*private or internal address.*PARLEY_ALLOW_PRIVATE_WEBHOOKS=true/);
  }
  assert.equal(receiver.on('/ssrf').length, 0, 'no request reached the receiver');
});

test('a webhook URL with a host name is delivered (the pinned address answers every lookup form)', async () => {
  const url = receiver.url('/by-name').replace('127.0.0.1', 'localhost');
  const { deliveries } = await queued(url);
  const worker = deliveryWorker(t.database.db);
  await until(() => worker.drain(), async () => (await deliveriesOf(t.database.db, deliveries[0]!.webhook_id!))[0]?.status === 'delivered', 'delivered to localhost');
});

test('a header value HTTP cannot carry fails the attempt (recorded, retried, then failed) instead of sticking', async () => {
  const { key, project } = await createKey(t.database.db, `retries-${randomBytes(4).toString('hex')}`);
  const hook = await insertWebhook(t.database.db, { project_id: project.id, url: receiver.url('/bad-header'), events: ['whatsapp.contact.created'], secret_key: SECRET, headers: { 'x-name': 'Zoë €' } });
  await newContact(t, { display_name: 'Bad header' }, key);
  await dispatcher(t.database.db).drain();
  const worker = deliveryWorker(t.database.db);
  const [delivery] = await until(() => worker.drain(), async () => {
    const rows = await deliveriesOf(t.database.db, hook);
    return rows[0]?.status === 'failed' ? rows : null;
  }, 'failed after its retries');
  const attempts = await attemptsOf(t.database.db, delivery!.id);
  assert.equal(attempts.length, 1 + RETRY_SECONDS.length);
  assert.ok(attempts.every((a) => a.error !== null && a.response_status === null));
});
