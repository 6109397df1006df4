// Outbound delivery of the contact events through the real app and a real receiver: what each
// API call (and Meta traffic) sends, the exact headers and signature, and webhooks that are
// inactive or deactivated after an event was queued.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { createKey } from '../../src/projects/service.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { contactUrl, freshWaId, newContact, patchContact } from '../helpers/contacts.ts';
import { connectNumber, inboundText } from '../helpers/inbound.ts';
import { freshMetaId } from '../helpers/meta.ts';
import {
  attemptsOf, deliveriesOf, deliveryWorker, dispatcher, hmacSha256, insertWebhook, projectId, type ReceivedRequest, Receiver, until,
} from '../helpers/receiver.ts';

const SECRET = 'whsec_contact-events-7Qp';
const EVENTS = ['whatsapp.contact.created', 'whatsapp.contact.updated', 'whatsapp.contact.erased'];
const CUSTOM = { 'x-tenant': 'acme-eu', authorization: 'Bearer receiver-token-1' };

let t: TestApp;
let receiver: Receiver;
let alpha: string;
let beta: string;
let hookId: string;
let pump: () => Promise<void>;

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
  alpha = await projectId(t.database.db, 'alpha');
  beta = await projectId(t.database.db, 'beta');
  hookId = await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/contacts'), events: EVENTS, secret_key: SECRET, headers: CUSTOM });
  const d = dispatcher(t.database.db);
  const w = deliveryWorker(t.database.db);
  pump = async () => {
    await d.drain();
    await w.drain();
  };
});
after(async () => {
  await receiver?.close();
  await t?.close();
});

/** Requests to the contacts hook about one contact, in arrival order. */
function about(contactId: string, event?: string): ReceivedRequest[] {
  return receiver
    .on('/contacts')
    .filter((r) => Receiver.json(r).contact?.id === contactId && (event === undefined || r.headers['x-webhook-event'] === event));
}

async function waitFor(contactId: string, event: string, count = 1): Promise<ReceivedRequest[]> {
  return until(pump, () => (about(contactId, event).length >= count ? about(contactId, event) : null), `${count} × ${event} for ${contactId}`);
}

async function apiContact(id: string): Promise<Record<string, unknown>> {
  const response = await t.request({ method: 'GET', url: contactUrl(id) });
  assert.equal(response.status, 200, response.text);
  return response.body.data;
}

async function outboxRows(contactId: string) {
  return t.database.db.selectFrom('webhook_events').select(['event', 'subject']).where(sql<boolean>`subject->>'contact_id' = ${contactId}`).orderBy('created_at').execute();
}

test('POST /whatsapp/contacts sends whatsapp.contact.created, signed over the exact bytes, with every header', async () => {
  const contact = await newContact(t, { display_name: 'Ann Created', metadata: { tier: 'gold' } });
  const [request] = await waitFor(contact.id, 'whatsapp.contact.created');
  assert.equal(request!.method, 'POST');
  assert.deepEqual(Receiver.json(request!), { contact: await apiContact(contact.id) }, 'the body is the contact as the API serves it');

  const h = request!.headers;
  assert.equal(h['content-type'], 'application/json');
  assert.equal(h['x-webhook-event'], 'whatsapp.contact.created');
  assert.equal(h['x-webhook-payload-version'], 'v2');
  assert.equal(h['x-tenant'], 'acme-eu', 'custom header');
  assert.equal(h.authorization, 'Bearer receiver-token-1', 'custom header');
  assert.equal(h['x-webhook-batch'], undefined);
  assert.equal(Number(h['content-length']), request!.body.length);

  assert.match(String(h['x-webhook-signature']), /^[0-9a-f]{64}$/, 'hex, no prefix');
  assert.ok(Receiver.verify(request!, SECRET), 'the receiver verifies the signature with its own HMAC');
  assert.ok(!Receiver.verify(request!, 'another secret'));
  const tampered = { ...request!, body: Buffer.from(request!.body.toString('utf8').replace('Ann Created', 'Ann Kreated')) };
  assert.ok(!Receiver.verify(tampered, SECRET), 'a changed byte breaks the signature');
  const reparsed = { ...request!, body: Buffer.from(JSON.stringify(JSON.parse(request!.body.toString('utf8')), null, 1)) };
  assert.ok(!Receiver.verify(reparsed, SECRET), 'the signature covers the bytes, not the JSON value');
  assert.equal(hmacSha256('key', 'The quick brown fox jumps over the lazy dog').toString('hex'), 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8', 'RFC vector');

  const [delivery] = await deliveriesOf(t.database.db, hookId).then((rows) => rows.filter((r) => r.idempotency_key === h['x-idempotency-key']));
  assert.ok(delivery, 'X-Idempotency-Key names the delivery');
  assert.equal(delivery!.status, 'delivered');
  assert.equal(delivery!.attempt_count, 1);
  assert.equal(delivery!.response_status, 200);
  assert.equal(delivery!.body, request!.body.toString('utf8'), 'the stored body is what was sent');
  const outbox = await t.database.db.selectFrom('webhook_events').select('id').where('id', '=', delivery!.idempotency_key).executeTakeFirst();
  assert.ok(outbox, 'the key is the outbox event id, unique per event');
  assert.equal((await attemptsOf(t.database.db, delivery!.id)).length, 1);
});

test('PATCH sends whatsapp.contact.updated with exactly the changed fields (display_name; a metadata merge)', async () => {
  const contact = await newContact(t, { display_name: 'Before', metadata: { keep: 'yes', nested: { a: 1 } } });
  await waitFor(contact.id, 'whatsapp.contact.created');

  const renamed = await patchContact(t, contact.id, { display_name: 'After' });
  assert.equal(renamed.status, 200, renamed.text);
  const [first] = await waitFor(contact.id, 'whatsapp.contact.updated');
  const body = Receiver.json(first!);
  assert.deepEqual(Object.keys(body).sort(), ['changed_fields', 'contact']);
  assert.deepEqual(body.changed_fields, ['display_name']);
  assert.equal(body.contact.display_name, 'After');
  assert.ok(Receiver.verify(first!, SECRET));

  const merged = await patchContact(t, contact.id, { metadata: { added: 2, nested: { b: 3 } } }, { merge: true });
  assert.equal(merged.status, 200, merged.text);
  const updates = await waitFor(contact.id, 'whatsapp.contact.updated', 2);
  const second = Receiver.json(updates[1]!);
  assert.deepEqual(second.changed_fields, ['metadata']);
  assert.deepEqual(second.contact.metadata, { keep: 'yes', nested: { a: 1, b: 3 }, added: 2 });
  assert.deepEqual(second.contact, await apiContact(contact.id));
  assert.notEqual(updates[0]!.headers['x-idempotency-key'], updates[1]!.headers['x-idempotency-key'], 'one key per event');

  const both = await patchContact(t, contact.id, { display_name: 'Both', metadata: { replaced: true } });
  assert.equal(both.status, 200, both.text);
  const third = Receiver.json((await waitFor(contact.id, 'whatsapp.contact.updated', 3))[2]!);
  assert.deepEqual([...third.changed_fields].sort(), ['display_name', 'metadata']);
});

test('a PATCH that changes nothing sends nothing (no outbox row, no request)', async () => {
  const contact = await newContact(t, { display_name: 'Same', metadata: { a: 1, b: { c: [1, 2] } } });
  await waitFor(contact.id, 'whatsapp.contact.created');
  const before = await outboxRows(contact.id);

  const same = await patchContact(t, contact.id, { display_name: 'Same', metadata: { b: { c: [1, 2] }, a: 1 } });
  assert.equal(same.status, 200, same.text);
  const sameMerge = await patchContact(t, contact.id, { metadata: { a: 1 } }, { merge: true });
  assert.equal(sameMerge.status, 200, sameMerge.text);
  const sameWaId = await patchContact(t, contact.id, { wa_id: contact.wa_id });
  assert.equal(sameWaId.status, 200, sameWaId.text);
  assert.deepEqual(await outboxRows(contact.id), before, 'no outbox row for a no-op');

  // A real change afterwards is the first update the receiver sees.
  assert.equal((await patchContact(t, contact.id, { display_name: 'Different' })).status, 200);
  const updates = await waitFor(contact.id, 'whatsapp.contact.updated');
  assert.equal(updates.length, 1);
  assert.deepEqual(Receiver.json(updates[0]!).changed_fields, ['display_name']);
});

test('DELETE sends whatsapp.contact.erased with the identifiers only', async () => {
  const contact = await newContact(t, { display_name: 'Gone Soon' });
  await waitFor(contact.id, 'whatsapp.contact.created');
  const erased = await t.request({ method: 'DELETE', url: contactUrl(contact.id) });
  assert.equal(erased.status, 204, erased.text);
  const [request] = await waitFor(contact.id, 'whatsapp.contact.erased');
  assert.deepEqual(Receiver.json(request!), { contact: { id: contact.id, wa_id: contact.wa_id, business_scoped_user_id: null } });
  assert.ok(Receiver.verify(request!, SECRET));
  assert.equal(about(contact.id, 'whatsapp.contact.updated').length, 0, 'erasure is not also an update');
});

test('Meta traffic that fills profile_name of an API-created contact sends whatsapp.contact.updated', async () => {
  const waId = freshWaId(7);
  const contact = await newContact(t, { wa_id: waId });
  assert.equal(contact.profile_name, null);
  await waitFor(contact.id, 'whatsapp.contact.created');
  const phoneNumberId = freshMetaId();
  await connectNumber(t, { phoneNumberId });

  await inboundText(t, { phoneNumberId, from: waId, name: 'Maria From Meta', text: 'hola' });
  const [request] = await waitFor(contact.id, 'whatsapp.contact.updated');
  const body = Receiver.json(request!);
  assert.deepEqual(body.changed_fields, ['profile_name']);
  assert.equal(body.contact.profile_name, 'Maria From Meta');
  assert.equal(about(contact.id, 'whatsapp.contact.created').length, 1, 'the existing contact is not created again');

  // The same name again changes nothing, so nothing more is sent.
  await inboundText(t, { phoneNumberId, from: waId, name: 'Maria From Meta', text: 'otra vez' });
  await pump();
  assert.equal(about(contact.id, 'whatsapp.contact.updated').length, 1);
});

test('an inactive webhook gets no outbox row, no delivery and no request', async () => {
  await insertWebhook(t.database.db, { project_id: beta, url: receiver.url('/inactive'), events: EVENTS, active: false, secret_key: SECRET });
  const contact = await newContact(t, { display_name: 'Beta Person' }, t.otherKey);
  const patched = await t.request({ method: 'PATCH', url: contactUrl(contact.id), key: t.otherKey, body: { contact: { display_name: 'x' } } });
  assert.equal(patched.status, 200, patched.text);
  await pump();
  const events = await t.database.db.selectFrom('webhook_events').select('id').where('project_id', '=', beta).execute();
  assert.deepEqual(events, [], 'parley_emit writes nothing when no active webhook wants the event');
  const deliveries = await t.database.db.selectFrom('webhook_deliveries').select('id').where('project_id', '=', beta).execute();
  assert.deepEqual(deliveries, []);
  assert.equal(receiver.on('/inactive').length, 0);
});

test('a webhook deactivated after an event was queued gets no request and its delivery fails', async () => {
  const hook = await insertWebhook(t.database.db, { project_id: beta, url: receiver.url('/deactivated'), events: ['whatsapp.contact.created'], secret_key: SECRET });
  const contact = await newContact(t, { display_name: 'Queued' }, t.otherKey);
  await dispatcher(t.database.db).drain();
  const [queued] = await deliveriesOf(t.database.db, hook);
  assert.equal(queued?.status, 'pending', 'the delivery was queued while the webhook was active');

  await t.database.db.updateTable('webhooks').set({ active: false }).where('id', '=', hook).execute();
  const [done] = await until(pump, async () => {
    const rows = await deliveriesOf(t.database.db, hook);
    return rows[0]?.status !== 'pending' ? rows : null;
  }, 'the delivery to end');
  assert.equal(done!.status, 'failed');
  assert.ok(done!.failed_at, 'failed_at is set');
  assert.equal(done!.delivered_at, null);
  const attempts = await attemptsOf(t.database.db, done!.id);
  assert.equal(attempts.length, 1, 'no retries for an inactive webhook');
  assert.equal(attempts[0]!.response_status, null);
  assert.match(String(attempts[0]!.error), /inactive/);
  assert.equal(receiver.on('/deactivated').length, 0, 'nothing reached the receiver');
  assert.equal(about(contact.id).length, 0);
});

test("custom headers cannot replace Parley's own headers", async () => {
  const { key, project } = await createKey(t.database.db, 'spoof');
  const spoof = {
    'X-Webhook-Event': 'whatsapp.contact.erased', 'X-Idempotency-Key': 'spoofed', 'X-Webhook-Payload-Version': 'v1', 'X-Webhook-Signature': '00',
    'Content-Type': 'text/plain', 'X-Extra': 'kept',
  };
  await insertWebhook(t.database.db, { project_id: project.id, url: receiver.url('/spoof'), events: ['whatsapp.contact.created'], secret_key: SECRET, headers: spoof });
  const contact = await newContact(t, {}, key);
  const [request] = await until(pump, () => (receiver.on('/spoof').length > 0 ? receiver.on('/spoof') : null), 'the spoof request');
  const h = request!.headers;
  assert.equal(h['x-webhook-event'], 'whatsapp.contact.created');
  assert.equal(h['x-webhook-payload-version'], 'v2');
  assert.equal(h['content-type'], 'application/json');
  assert.notEqual(h['x-idempotency-key'], 'spoofed');
  assert.ok(Receiver.verify(request!, SECRET));
  assert.equal(h['x-extra'], 'kept');
  assert.equal(Receiver.json(request!).contact.id, contact.id);
  for (const [name, value] of Object.entries(h)) assert.ok(!String(value).includes('spoofed') && value !== 'v1', `${name} was not spoofed`);
});

test('a webhook deleted after an event was queued gets no request and its delivery fails', async () => {
  const hook = await insertWebhook(t.database.db, { project_id: beta, url: receiver.url('/deleted'), events: ['whatsapp.contact.created'] });
  await newContact(t, { display_name: 'Orphan' }, t.otherKey);
  await dispatcher(t.database.db).drain();
  const [queued] = await deliveriesOf(t.database.db, hook);
  assert.equal(queued?.status, 'pending');
  await t.database.db.deleteFrom('webhooks').where('id', '=', hook).execute();
  const done = await until(pump, async () => {
    const row = await t.database.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', queued!.id).executeTakeFirstOrThrow();
    return row.status !== 'pending' ? row : null;
  }, 'the orphaned delivery to end');
  assert.equal(done.status, 'failed');
  assert.equal(done.webhook_id, null);
  assert.equal(done.webhook_url, receiver.url('/deleted'), 'the log keeps the URL');
  assert.match(String((await attemptsOf(t.database.db, done.id))[0]!.error), /deleted/);
  assert.equal(receiver.on('/deleted').length, 0);
});
