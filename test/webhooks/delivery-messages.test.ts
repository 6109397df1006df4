// Message, status, batch, raw Meta and inactivity deliveries, produced by real inbound traffic
// (signed Meta bodies posted to the app and processed by the inbound worker).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { isoMicros } from '../../src/db/connection.ts';
import { insertMessage } from '../../src/messages/ingest-repo.ts';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { queueInactivityEvents } from '../../src/webhooks/outbox-repo.ts';
import { TEST_META_APP_SECRET, type TestApp, startTestApp } from '../helpers/app.ts';
import { freshWaId } from '../helpers/contacts.ts';
import { connectNumber, drain, inboundText, postWebhook } from '../helpers/inbound.ts';
import { freshMetaId, statusBody, wamid } from '../helpers/meta.ts';
import { deliveriesOf, deliveryWorker, dispatcher, insertWebhook, projectId, type ReceivedRequest, Receiver, until } from '../helpers/receiver.ts';

const SECRET = 'whsec_messages-Lm2';

let t: TestApp;
let receiver: Receiver;
let alpha: string;
let pump: () => Promise<void>;

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
  alpha = await projectId(t.database.db, 'alpha');
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

/** A connected number with one number-scoped webhook on `path`. */
async function numberWithHook(path: string, fields: Partial<Parameters<typeof insertWebhook>[1]>) {
  const phoneNumberId = freshMetaId();
  await connectNumber(t, { phoneNumberId });
  const hook = await insertWebhook(t.database.db, { project_id: alpha, phone_number_id: phoneNumberId, url: receiver.url(path), secret_key: SECRET, ...fields });
  return { phoneNumberId, hook };
}

async function received(path: string, count: number, label = path): Promise<ReceivedRequest[]> {
  return until(pump, () => (receiver.on(path).length >= count ? receiver.on(path) : null), `${count} requests on ${label}`);
}

const event = (r: ReceivedRequest) => String(r.headers['x-webhook-event']);

async function api(url: string): Promise<any> {
  const response = await t.request({ method: 'GET', url: `/platform/v1${url}` });
  assert.equal(response.status, 200, response.text);
  return response.body.data;
}

test('message.received and conversation.created carry the v2 payload; is_new_conversation only for the first message', async () => {
  const { phoneNumberId } = await numberWithHook('/messages', { events: ['whatsapp.message.received', 'whatsapp.conversation.created'] });
  // Out of scope: a project webhook (project events only) and another number's webhook.
  const scoped = ['whatsapp.message.received', 'whatsapp.conversation.created'];
  await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/project-scope'), events: scoped });
  await numberWithHook('/other-number', { events: scoped });
  const from = freshWaId(3);
  const first = await inboundText(t, { phoneNumberId, from, name: 'Inbound Ines', text: 'first' });
  const requests = await received('/messages', 2);
  assert.deepEqual(requests.map(event).sort(), ['whatsapp.conversation.created', 'whatsapp.message.received']);
  const created = Receiver.json(requests.find((r) => event(r) === 'whatsapp.conversation.created')!);
  assert.deepEqual(Object.keys(created).sort(), ['conversation', 'phone_number_id']);
  assert.equal(created.phone_number_id, phoneNumberId);

  const m1 = requests.find((r) => event(r) === 'whatsapp.message.received')!;
  assert.ok(Receiver.verify(m1, SECRET));
  const body = Receiver.json(m1);
  assert.deepEqual(Object.keys(body), ['message', 'conversation', 'is_new_conversation', 'phone_number_id']);
  assert.equal(body.is_new_conversation, true);
  assert.equal(body.phone_number_id, phoneNumberId);
  assert.deepEqual(body.message, await api(`/whatsapp/messages/${encodeURIComponent(first)}`), 'the message as the API serves it');
  assert.equal(body.conversation.id, created.conversation.id);
  assert.deepEqual(body.conversation, await api(`/whatsapp/conversations/${body.conversation.id}`));

  const second = await inboundText(t, { phoneNumberId, from, name: 'Inbound Ines', text: 'second' });
  const after = await received('/messages', 3);
  assert.equal(after.length, 3, 'no second conversation.created');
  const m2 = Receiver.json(after[2]!);
  assert.equal(event(after[2]!), 'whatsapp.message.received');
  assert.equal(m2.message.id, (await api(`/whatsapp/messages/${encodeURIComponent(second)}`)).id);
  assert.equal(m2.is_new_conversation, false);
  assert.equal(m2.conversation.id, body.conversation.id);
  assert.notEqual(after[2]!.headers['x-idempotency-key'], m1.headers['x-idempotency-key']);
  assert.equal(receiver.on('/project-scope').length, 0, 'a project webhook gets no message events');
  assert.equal(receiver.on('/other-number').length, 0, "another number's webhook gets nothing");
});

test('statuses of an outbound message send whatsapp.message.delivered and .read', async () => {
  const { phoneNumberId } = await numberWithHook('/statuses', { events: ['whatsapp.message.delivered', 'whatsapp.message.read'] });
  const from = freshWaId(4);
  await inboundText(t, { phoneNumberId, from, text: 'hi, answer me' });
  const conversation = await t.database.db.selectFrom('conversations').select(['id', 'contact_id']).where('phone_number_id', '=', phoneNumberId).executeTakeFirstOrThrow();
  const outbound = wamid();
  await t.database.db.transaction().execute((tx) =>
    insertMessage(tx, {
      projectId: alpha, wamid: outbound, conversationId: conversation.id, contactId: conversation.contact_id, phoneNumberId, direction: 'outbound',
      type: 'text', status: 'sent', sentAt: new Date(), payload: { type: 'text', text: { body: 'an answer' } }, hasMedia: false, content: 'an answer',
    }),
  );
  await pump();
  assert.equal(receiver.on('/statuses').length, 0, 'not subscribed to the inbound message or to sent');

  await postWebhook(t, statusBody(phoneNumberId, 'delivered', { wamid: outbound, waId: from, at: new Date() }));
  await drain(t);
  const [delivered] = await received('/statuses', 1);
  assert.equal(event(delivered!), 'whatsapp.message.delivered');
  const d = Receiver.json(delivered!);
  assert.equal(d.message.id, (await api(`/whatsapp/messages/${encodeURIComponent(outbound)}`)).id);
  assert.equal(d.message.kapso.status, 'delivered');
  assert.equal(d.is_new_conversation, false);
  assert.equal(d.phone_number_id, phoneNumberId);

  await postWebhook(t, statusBody(phoneNumberId, 'read', { wamid: outbound, waId: from, at: new Date() }));
  await drain(t);
  const all = await received('/statuses', 2);
  assert.equal(event(all[1]!), 'whatsapp.message.read');
  assert.equal(Receiver.json(all[1]!).message.kapso.status, 'read');

  // A repeated status moves nothing and sends nothing.
  await postWebhook(t, statusBody(phoneNumberId, 'delivered', { wamid: outbound, waId: from, at: new Date() }));
  await drain(t);
  await pump();
  assert.equal(receiver.on('/statuses').length, 2);
});

test('buffered messages: 5 in one conversation → a batch of 3 at once (size reached) and one of 2 after the window', async () => {
  const { phoneNumberId, hook } = await numberWithHook('/batch', {
    events: ['whatsapp.message.received'], buffer_enabled: true, buffer_events: ['whatsapp.message.received'], buffer_window_seconds: 1, max_buffer_size: 3,
  });
  const from = freshWaId(5);
  const wamids: string[] = [];
  for (let i = 1; i <= 5; i++) wamids.push(await inboundText(t, { phoneNumberId, from, text: `batched ${i}`, timestamp: Math.floor(Date.now() / 1000) }));
  const start = Date.now();
  const [full] = await received('/batch', 1);
  assert.ok(full!.at - start < 900, `the full batch left before the window (${full!.at - start} ms)`);
  const [, rest] = await received('/batch', 2);
  assert.ok(rest!.at - start >= 900, `the partial batch waited for the window (${rest!.at - start} ms)`);
  assert.equal(receiver.on('/batch').length, 2);

  const expectSizes = [3, 2];
  const items: any[] = [];
  for (const [i, r] of [full!, rest!].entries()) {
    assert.equal(r.headers['x-webhook-batch'], 'true');
    assert.equal(r.headers['x-batch-size'], String(expectSizes[i]));
    assert.equal(r.headers['x-webhook-event'], 'whatsapp.message.received');
    assert.ok(Receiver.verify(r, SECRET));
    assert.ok(r.body.toString('utf8').startsWith('{"type":"whatsapp.message.received","batch":true,"data":['));
    const body = Receiver.json(r);
    assert.deepEqual(Object.keys(body), ['type', 'batch', 'data']);
    assert.equal(body.data.length, expectSizes[i]);
    items.push(...body.data);
  }
  const served = await Promise.all(wamids.map((w) => api(`/whatsapp/messages/${encodeURIComponent(w)}`)));
  assert.deepEqual(items.map((item) => item.message.id), served.map((m) => m.id), 'in arrival order');
  for (const item of items) {
    assert.deepEqual(Object.keys(item.message).slice(0, 4), ['id', 'timestamp', 'type', 'from'], 'items keep the key order of the unbatched payload');
  }
  assert.deepEqual(items.map((item) => item.is_new_conversation), [true, false, false, false, false]);
  for (const item of items) {
    assert.deepEqual(Object.keys(item), ['message', 'conversation', 'is_new_conversation', 'phone_number_id']);
    assert.equal(item.phone_number_id, phoneNumberId);
  }
  const deliveries = await deliveriesOf(t.database.db, hook);
  assert.deepEqual(deliveries.map((d) => [d.status, d.attempt_count]), [['delivered', 1], ['delivered', 1]]);
  assert.equal(deliveries[0]!.body, full!.body.toString('utf8'), 'the batch bytes were frozen at the first attempt');
});

test('a meta webhook receives the stored Meta body byte for byte, keyed by its SHA-256', async () => {
  const { phoneNumberId, hook } = await numberWithHook('/raw', { kind: 'meta', events: [] });
  const id = wamid();
  const raw =
    `{ "object" : "whatsapp_business_account","entry":[{"id":"900000000000001","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",` +
    `"metadata":{"display_phone_number":"${phoneNumberId}","phone_number_id":"${phoneNumberId}"},"contacts":[{"profile":{"name":"Jos\\u00e9 ☕"},"wa_id":"${freshWaId(6)}"}],` +
    `"messages":[{"from":"15550000001","id":"${id}","timestamp":"${Math.floor(Date.now() / 1000)}","type":"text","text":{"body":"olá 👋\\n  spaced"}}]}}]}]}\n`;
  const response = await t.request({ method: 'POST', url: '/webhooks/meta', key: null, rawBody: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, TEST_META_APP_SECRET) } });
  assert.equal(response.status, 200, response.text);
  await drain(t);
  const [request] = await received('/raw', 1);
  assert.ok(request!.body.equals(Buffer.from(raw, 'utf8')), 'the bytes Meta sent');
  assert.equal(request!.headers['x-idempotency-key'], createHash('sha256').update(raw).digest('hex'));
  assert.equal(request!.headers['content-type'], 'application/json');
  assert.ok(Receiver.verify(request!, SECRET));
  const [delivery] = await deliveriesOf(t.database.db, hook);
  assert.equal(delivery!.status, 'delivered');
  await pump();
  assert.equal(receiver.on('/raw').length, 1);
});

test('inactivity: one whatsapp.conversation.inactive per quiet period', async () => {
  const { phoneNumberId, hook } = await numberWithHook('/inactive', { events: ['whatsapp.conversation.inactive'], inactivity_minutes: 5 });
  const from = freshWaId(8);
  const firstWamid = await inboundText(t, { phoneNumberId, from, text: 'then silence' });
  const conversation = await t.database.db.selectFrom('conversations').select('id').where('phone_number_id', '=', phoneNumberId).executeTakeFirstOrThrow();
  const quiet = (minutes: number) =>
    sql`UPDATE conversations SET last_active_at = now() - make_interval(mins => ${minutes}) WHERE id = ${conversation.id}`.execute(t.database.db);

  assert.equal(await queueInactivityEvents(t.database.db), 0, 'not quiet yet');
  await quiet(4);
  assert.equal(await queueInactivityEvents(t.database.db), 0, 'quiet for less than inactivity_minutes');
  await quiet(6);
  assert.equal(await queueInactivityEvents(t.database.db), 1);
  const [first] = await received('/inactive', 1);
  assert.equal(event(first!), 'whatsapp.conversation.inactive');
  const body = Receiver.json(first!);
  assert.deepEqual(Object.keys(body).sort(), ['conversation', 'inactivity', 'phone_number_id', 'since_message']);
  assert.equal(body.conversation.id, conversation.id);
  assert.equal(body.phone_number_id, phoneNumberId);
  assert.deepEqual(body.inactivity, { minutes: 5 });
  const stored = await t.database.db.selectFrom('messages').select(['id', 'created_at']).where('wamid', '=', firstWamid).executeTakeFirstOrThrow();
  assert.deepEqual(body.since_message, { id: stored.id, whatsapp_message_id: firstWamid, direction: 'inbound', created_at: isoMicros(stored.created_at) });

  assert.equal(await queueInactivityEvents(t.database.db), 0, 'a second sweep in the same quiet period adds nothing');
  await pump();
  assert.equal((await deliveriesOf(t.database.db, hook)).length, 1);

  const secondWamid = await inboundText(t, { phoneNumberId, from, text: 'back again' });
  assert.equal(await queueInactivityEvents(t.database.db), 0, 'active again');
  await quiet(7);
  assert.equal(await queueInactivityEvents(t.database.db), 1, 'a new quiet period');
  assert.equal(await queueInactivityEvents(t.database.db), 0);
  const all = await received('/inactive', 2);
  assert.equal(Receiver.json(all[1]!).since_message.whatsapp_message_id, secondWamid);
  assert.notEqual(all[0]!.headers['x-idempotency-key'], all[1]!.headers['x-idempotency-key']);
  await pump();
  assert.equal((await deliveriesOf(t.database.db, hook)).length, 2);
});
