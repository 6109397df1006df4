// One outbox event or delivery that cannot go out must never hold up the others: a contact
// event's test sample is delivered like a real one; an event whose rendering fails is tried
// again, then set aside as dead with its error, while the events around it and after it are
// delivered; a delivery whose body cannot be built runs out its retries and ends failed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { CONTACT_FIELDS, ISO_MICROS, newContact } from '../helpers/contacts.ts';
import { attemptsOf, deliveriesOf, deliveryWorker, dispatcher, insertWebhook, projectId, Receiver, until } from '../helpers/receiver.ts';

const HOOKS = '/platform/v1/whatsapp/webhooks';
const SECRET = 'whsec_poison-tests-9Zx';
const CONTACT_EVENTS = ['whatsapp.contact.created', 'whatsapp.contact.updated'];

let t: TestApp;
let receiver: Receiver;
let alpha: string;

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
  alpha = await projectId(t.database.db, 'alpha');
});
after(async () => {
  await receiver?.close();
  await t?.close();
});

/** A dispatcher and a delivery worker driven by hand; an event is tried again 0.1 s after a failure, three times in all. */
function workers() {
  const d = dispatcher(t.database.db, { retrySeconds: [0.1, 0.1] });
  const w = deliveryWorker(t.database.db);
  return async () => {
    await d.drain();
    await w.drain();
  };
}

const createdAbout = (path: string, contactId: string) =>
  receiver.on(path).filter((r) => r.headers['x-webhook-event'] === 'whatsapp.contact.created' && Receiver.json(r).contact?.id === contactId);

test('testing a webhook with contact events delivers a signed sample contact, and real contact events still flow after it', async () => {
  const created = await t.request({
    method: 'POST',
    url: HOOKS,
    body: { whatsapp_webhook: { url: receiver.url('/sample'), events: CONTACT_EVENTS, secret_key: SECRET } },
  });
  assert.equal(created.status, 201, created.text);
  const hookUrl = `${HOOKS}/${created.body.data.id}/test`;
  for (const event_type of CONTACT_EVENTS) {
    const tested = await t.request({ method: 'POST', url: hookUrl, body: { event_type } });
    assert.equal(tested.status, 200, tested.text);
  }
  const pump = workers();
  const samples = await until(pump, () => {
    const got = receiver.on('/sample').filter((r) => Receiver.json(r).test === true);
    return got.length >= 2 ? got : null;
  }, 'both samples');
  for (const event of CONTACT_EVENTS) {
    const request = samples.find((r) => r.headers['x-webhook-event'] === event);
    assert.ok(request, `a sample of ${event}`);
    assert.ok(Receiver.verify(request, SECRET), 'the sample is signed with the webhook secret');
    const body = Receiver.json(request);
    assert.deepEqual(Object.keys(body.contact).sort(), CONTACT_FIELDS, 'the sample contact has every field a real one has');
    assert.match(body.contact.created_at, ISO_MICROS);
    assert.equal(typeof body.contact.id, 'string');
    if (event === 'whatsapp.contact.updated') assert.ok(Array.isArray(body.changed_fields) && body.changed_fields.length > 0);
  }

  const contact = await newContact(t, { display_name: 'After The Test' });
  const [real] = await until(pump, () => (createdAbout('/sample', contact.id).length > 0 ? createdAbout('/sample', contact.id) : null), 'the real event after the samples');
  assert.ok(Receiver.verify(real!, SECRET));
  assert.equal(Receiver.json(real!).test, undefined, 'a real event is not marked as a test');
  const stuck = await sql<{ n: number }>`SELECT count(*)::int AS n FROM webhook_events WHERE dispatched_at IS NULL OR dead_at IS NOT NULL`.execute(t.database.db);
  assert.equal(stuck.rows[0]!.n, 0, 'every outbox row dispatched, none set aside');
});

async function outboxRow(id: string) {
  return t.database.db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

test('an outbox event that cannot be rendered is retried, then set aside as dead with its error; the events beside and after it are delivered', async () => {
  await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/poison'), events: ['whatsapp.contact.created'] });
  // A subject no contact can have: rendering it fails in PostgreSQL (the id is not a uuid).
  const poison = await sql<{ id: string }>`
    INSERT INTO webhook_events (project_id, event, subject) VALUES (${alpha}, 'whatsapp.contact.created', '{"contact_id":"not-a-uuid"}')
    RETURNING id`.execute(t.database.db);
  const poisonId = poison.rows[0]!.id;
  // Queued after the broken row: the same batch.
  const beside = await newContact(t, { display_name: 'Beside The Poison' });
  const pump = workers();
  await until(pump, () => createdAbout('/poison', beside.id).length > 0, 'the event in the same batch');

  const failing = await outboxRow(poisonId);
  assert.ok(failing.attempts >= 1, 'the failure is counted');
  assert.match(String(failing.last_error), /invalid input syntax for type uuid/);
  assert.equal(failing.dispatched_at, null);

  const dead = await until(pump, async () => {
    const row = await outboxRow(poisonId);
    return row.dead_at ? row : null;
  }, 'the broken event set aside');
  assert.equal(dead.attempts, 3, 'three tries: the first and two retries');
  assert.match(String(dead.last_error), /invalid input syntax for type uuid/, 'the error stays readable');
  assert.equal(dead.dispatched_at, null, 'a dead event is not dispatched');

  const later = await newContact(t, { display_name: 'After The Poison' });
  await until(pump, () => createdAbout('/poison', later.id).length > 0, 'an event of a later batch');
  await pump();
  assert.equal((await outboxRow(poisonId)).attempts, 3, 'a dead event is not read again');
});

test('a delivery whose body cannot be built runs out its retries and ends failed with the reason; the others are delivered', async () => {
  const hook = await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/broken'), events: ['whatsapp.message.received'] });
  // A batch whose items are not a list: its body cannot be built.
  await sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, webhook_url, event, idempotency_key, batch_items)
    VALUES (${alpha}, ${hook}, ${receiver.url('/broken')}, 'whatsapp.message.received', 'broken-batch', '{"not":"a list"}'::jsonb)`.execute(t.database.db);
  await sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, webhook_url, event, idempotency_key, body)
    VALUES (${alpha}, ${hook}, ${receiver.url('/broken')}, 'whatsapp.message.received', 'fine-one', '{"fine":true}')`.execute(t.database.db);
  const w = deliveryWorker(t.database.db);
  const [broken] = await until(() => w.drain(), async () => {
    const rows = (await deliveriesOf(t.database.db, hook)).filter((r) => r.idempotency_key === 'broken-batch' && r.status === 'failed');
    return rows.length > 0 ? rows : null;
  }, 'the broken delivery to end failed');
  assert.match(String(broken!.last_error), /body could not be built/);
  const attempts = await attemptsOf(t.database.db, broken!.id);
  assert.equal(attempts.length, 4, 'each attempt recorded: the first and three retries');
  assert.ok(attempts.every((a) => /body could not be built/.test(String(a.error))));
  assert.equal(broken!.locked_until, null);
  assert.equal(receiver.on('/broken').filter((r) => Receiver.json(r).fine === true).length, 1, 'the other delivery went out');
});

test('a delivery whose earlier attempts left no record is given up after the last retry, visibly, without sending again', async () => {
  const hook = await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/unrecorded'), events: ['whatsapp.message.received'] });
  // Every attempt the schedule allows was claimed (attempt_count), none was recorded: what a
  // node leaves behind when recording keeps failing or the node dies mid-attempt.
  const allowed = 4; // the first attempt and the three retries of the test schedule
  await sql`
    INSERT INTO webhook_deliveries (project_id, webhook_id, webhook_url, event, idempotency_key, body, attempt_count)
    VALUES (${alpha}, ${hook}, ${receiver.url('/unrecorded')}, 'whatsapp.message.received', 'never-recorded', '{"n":1}', ${allowed})`.execute(t.database.db);
  const w = deliveryWorker(t.database.db);
  const [row] = await until(() => w.drain(), async () => {
    const rows = (await deliveriesOf(t.database.db, hook)).filter((r) => r.status === 'failed');
    return rows.length > 0 ? rows : null;
  }, 'the delivery to be given up');
  assert.match(String(row!.last_error), /without a recorded result/);
  assert.equal(row!.locked_until, null);
  assert.equal(receiver.on('/unrecorded').length, 0, 'nothing was sent past the last retry');
});
