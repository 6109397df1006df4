// Status webhooks from the stand-in, received by a real HTTP receiver: signed with the app
// secret over the exact body, in Meta's shape, in order, and dropped (not fatal) when the
// receiver fails.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { startStandInGraph, SANDBOX_WABA_ID, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { triggerRecipient } from '../../src/sandbox/triggers.ts';
import { hmacSha256, Receiver, type ReceivedRequest, sleep } from '../helpers/receiver.ts';
import { call, PNID, sendText } from './graph.ts';

const SECRET = 'sandbox-app-secret';
let receiver: Receiver;

before(async () => {
  receiver = await Receiver.start();
});
beforeEach(() => {
  receiver.requests.splice(0);
  receiver.failNext(0);
});
after(() => receiver.close());

function signedBy(request: ReceivedRequest, secret: string): boolean {
  const header = request.headers['x-hub-signature-256'];
  return typeof header === 'string' && header === `sha256=${hmacSha256(secret, request.body).toString('hex')}`;
}

const statusOf = (request: ReceivedRequest) => Receiver.json(request).entry[0].changes[0].value.statuses?.[0];

async function standIn(options: Parameters<typeof startStandInGraph>[0] = {}): Promise<StandInGraph> {
  return startStandInGraph({ webhook: { url: receiver.url('/webhooks/meta'), appSecret: SECRET }, statusDelayMs: 0, ...options });
}

test('an accepted send is followed by signed sent → delivered → read webhooks in Meta\'s shape', async () => {
  const graph = await standIn();
  try {
    const answer = await sendText(graph, '15550102030', 'hi');
    const wamid = answer.body.messages[0].id;
    await graph.idle();
    const received = receiver.on('/webhooks/meta');
    assert.deepEqual(received.map((r) => statusOf(r).status), ['sent', 'delivered', 'read']);
    for (const request of received) {
      assert.ok(signedBy(request, SECRET), 'signed with the app secret');
      assert.ok(!signedBy(request, 'another-secret'));
      assert.equal(request.headers['content-type'], 'application/json');
      const body = Receiver.json(request);
      assert.equal(body.object, 'whatsapp_business_account');
      assert.equal(body.entry[0].id, SANDBOX_WABA_ID);
      assert.equal(body.entry[0].changes[0].field, 'messages');
      const value = body.entry[0].changes[0].value;
      assert.equal(value.messaging_product, 'whatsapp');
      assert.equal(value.metadata.phone_number_id, PNID);
      assert.match(value.metadata.display_phone_number, /^\d+$/);
      const status = value.statuses[0];
      assert.equal(status.id, wamid);
      assert.equal(status.recipient_id, '15550102030');
      assert.match(status.timestamp, /^\d{10}$/);
    }
    const [sent, delivered, read] = received.map(statusOf);
    assert.equal(sent.pricing.category, 'service');
    assert.equal(sent.conversation.origin.type, 'service');
    assert.equal(delivered.conversation.id, sent.conversation.id);
    assert.equal(read.pricing, undefined);
  } finally {
    await graph.close();
  }
});

test('statuses come statusDelayMs apart, in order, for many sends at once', async () => {
  const graph = await standIn({ statusDelayMs: 20 });
  try {
    const wamids = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await sendText(graph, `1555010${String(i).padStart(4, '0')}`)).body.messages[0].id as string));
    await graph.idle();
    for (const wamid of wamids) {
      const mine = receiver.on('/webhooks/meta').filter((r) => statusOf(r).id === wamid);
      assert.deepEqual(mine.map((r) => statusOf(r).status), ['sent', 'delivered', 'read'], wamid);
    }
  } finally {
    await graph.close();
  }
});

test('a template send is priced by the template\'s category', async () => {
  const graph = await standIn();
  try {
    graph.addTemplate({ name: 'receipt', language: 'en_US', category: 'UTILITY' });
    await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', to: '15550102030', type: 'template', template: { name: 'receipt', language: { code: 'en_US' } } } });
    await graph.idle();
    const sent = statusOf(receiver.on('/webhooks/meta')[0]!);
    assert.equal(sent.pricing.category, 'utility');
    assert.equal(sent.pricing.billable, true);
  } finally {
    await graph.close();
  }
});

test('the undeliverable trigger ends in a failed status with its error, never delivered', async () => {
  const graph = await standIn();
  try {
    await sendText(graph, triggerRecipient('undeliverable'));
    await graph.idle();
    const statuses = receiver.on('/webhooks/meta').map(statusOf);
    assert.deepEqual(statuses.map((s) => s.status), ['sent', 'failed']);
    const error = statuses[1].errors[0];
    assert.equal(error.code, 131026);
    assert.equal(typeof error.title, 'string');
    assert.equal(typeof error.error_data.details, 'string');
  } finally {
    await graph.close();
  }
});

test('a BSUID recipient\'s statuses carry recipient_user_id', async () => {
  const graph = await standIn();
  try {
    await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', recipient: 'US.777', type: 'text', text: { body: 'x' } } });
    await graph.idle();
    const status = statusOf(receiver.on('/webhooks/meta')[0]!);
    assert.equal(status.recipient_user_id, 'US.777');
  } finally {
    await graph.close();
  }
});

test('with echo, the recipient answers after read, replying to the message', async () => {
  const graph = await standIn({ echo: true });
  try {
    const wamid = (await sendText(graph, '15550102030', 'ping')).body.messages[0].id;
    await graph.idle();
    const received = receiver.on('/webhooks/meta');
    assert.equal(received.length, 4);
    const value = Receiver.json(received[3]!).entry[0].changes[0].value;
    assert.equal(value.messages[0].type, 'text');
    assert.equal(value.messages[0].text.body, 'Echo: ping');
    assert.equal(value.messages[0].from, '15550102030');
    assert.equal(value.messages[0].context.id, wamid);
    assert.equal(value.contacts[0].wa_id, '15550102030');
    assert.ok(signedBy(received[3]!, SECRET));
  } finally {
    await graph.close();
  }
});

test('sendStatus posts by hand, in the order a test chooses', async () => {
  const graph = await standIn({ autoStatuses: false });
  try {
    const wamid = (await sendText(graph, '15550102030')).body.messages[0].id;
    assert.equal(receiver.requests.length, 0, 'nothing is sent by itself');
    assert.equal(await graph.sendStatus(wamid, 'read'), 200);
    assert.equal(await graph.sendStatus(wamid, 'sent'), 200);
    assert.equal(await graph.sendStatus(wamid, 'failed', { errors: [{ code: 131050, title: 'stopped' }] }), 200);
    const statuses = receiver.on('/webhooks/meta').map(statusOf);
    assert.deepEqual(statuses.map((s) => s.status), ['read', 'sent', 'failed']);
    assert.equal(statuses[2].errors[0].code, 131050);
    await assert.rejects(graph.sendStatus('wamid.unknown', 'read'), /no message/);
  } finally {
    await graph.close();
  }
});

test('a failing or absent receiver costs only its webhooks: they are recorded as dropped', async () => {
  const lines: string[] = [];
  const graph = await standIn({ log: (line) => lines.push(line) });
  try {
    receiver.failNext(Infinity, 500);
    await sendText(graph, '15550102030');
    await graph.idle();
    assert.deepEqual(graph.webhookDeliveries().map((d) => d.httpStatus), [500, 500, 500]);
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /dropped: .* answered 500/);
    receiver.failNext(0);
    // Still answering sends, and posting again once the receiver is back.
    await sendText(graph, '15550102030');
    await graph.idle();
    assert.deepEqual(graph.webhookDeliveries().slice(3).map((d) => d.httpStatus), [200, 200, 200]);
  } finally {
    await graph.close();
  }
  const nowhere = await startStandInGraph({ webhook: { url: 'http://127.0.0.1:1/none', appSecret: SECRET }, statusDelayMs: 0 });
  try {
    assert.equal((await sendText(nowhere, '15550102030')).status, 200);
    await nowhere.idle();
    assert.deepEqual(nowhere.webhookDeliveries().map((d) => [d.httpStatus, d.error !== null]), [[null, true], [null, true], [null, true]]);
  } finally {
    await nowhere.close();
  }
});

test('close stops statuses that are still waiting', async () => {
  const graph = await standIn({ statusDelayMs: 100 });
  await sendText(graph, '15550102030');
  await graph.close();
  await sleep(400);
  assert.equal(receiver.requests.length, 0);
});
