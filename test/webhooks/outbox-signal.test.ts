// Writers never NOTIFY inside their transactions (migration 0011), and the dispatchers still
// wake promptly: after the commit, from Node (src/webhooks/outbox-signal.ts), also on another node.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { buildApp } from '../../src/app.ts';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { inboundTextBody } from '../../src/meta-inbound/simulate.ts';
import { MetaEventWorker } from '../../src/meta-inbound/worker.ts';
import { TokenCipher } from '../../src/phone-numbers/token-cipher.ts';
import { createKey } from '../../src/projects/service.ts';
import { WEBHOOK_EVENTS_CHANNEL } from '../../src/webhooks/outbox-repo.ts';
import { OutboxSignal } from '../../src/webhooks/outbox-signal.ts';
import { startTestApp, TEST_META_APP_SECRET, type TestApp } from '../helpers/app.ts';
import { freshWaId } from '../helpers/contacts.ts';
import { connectNumber, drain, inboundText } from '../helpers/inbound.ts';
import { freshMetaId } from '../helpers/meta.ts';
import { cleanupProcesses, freePort, makeDataDir, type ServerProcess, startParley, stopParley } from '../helpers/process.ts';
import { insertWebhook, projectId, Receiver, sleep } from '../helpers/receiver.ts';

const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const CONTACT_EVENTS = ['whatsapp.contact.created', 'whatsapp.contact.updated'];

let t: TestApp;
let receiver: Receiver;

before(async () => {
  t = await startTestApp();
  receiver = await Receiver.start();
});
after(async () => {
  await cleanupProcesses();
  await receiver?.close();
  await t?.close();
});

/** A LISTEN connection on the outbox channel that records every payload it hears. */
async function listen(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const heard: string[] = [];
  client.on('notification', (n) => heard.push(n.payload ?? ''));
  await client.query(`LISTEN ${WEBHOOK_EVENTS_CHANNEL}`);
  return { heard, close: () => client.end() };
}

test('writes that queue outbox rows (API, inbound batch and general path, test events) send no NOTIFY', async () => {
  const alpha = await projectId(t.database.db, 'alpha');
  const phoneNumberId = freshMetaId();
  await connectNumber(t, { phoneNumberId });
  const hook = await insertWebhook(t.database.db, { project_id: alpha, url: receiver.url('/silent'), events: CONTACT_EVENTS });
  await insertWebhook(t.database.db, { project_id: alpha, phone_number_id: phoneNumberId, url: receiver.url('/silent-number'), events: ['whatsapp.message.received'] });
  await insertWebhook(t.database.db, { project_id: alpha, phone_number_id: phoneNumberId, url: receiver.url('/silent-meta'), kind: 'meta' });
  const listener = await listen(t.database.url);
  try {
    const before = await t.database.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const created = await t.request({ method: 'POST', url: '/platform/v1/whatsapp/contacts', body: { contact: { wa_id: freshWaId(11), display_name: 'Quiet' } } });
    assert.equal(created.status, 201, created.text);
    const patched = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/contacts/${created.body.data.id}`, body: { contact: { display_name: 'Still quiet' } } });
    assert.equal(patched.status, 200, patched.text);
    // One text: the batch call (parley_ingest_messages); a malformed-for-the-batch body (no
    // contacts) takes the general path, which uses emitMetaRaw.
    await inboundText(t, { phoneNumberId, from: freshWaId(12), text: 'hello' });
    const general = inboundTextBody({ phoneNumberId, from: freshWaId(13), text: 'general path' });
    delete (general.entry![0]!.changes![0]!.value as Record<string, unknown>).contacts;
    const raw = JSON.stringify(general);
    const posted = await t.request({ method: 'POST', url: '/webhooks/meta', key: null, rawBody: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, TEST_META_APP_SECRET) } });
    assert.equal(posted.status, 200, posted.text);
    await drain(t);
    const tested = await t.request({ method: 'POST', url: `/platform/v1/whatsapp/webhooks/${hook}/test`, body: {} });
    assert.ok(tested.status < 300, tested.text);

    const rows = await t.database.db.selectFrom('webhook_events').select(['event']).execute();
    const events = new Set(rows.map((r) => r.event));
    for (const e of ['whatsapp.contact.created', 'whatsapp.contact.updated', 'whatsapp.message.received', 'meta.raw']) assert.ok(events.has(e), `an outbox row for ${e} was written`);
    assert.ok(rows.filter((r) => r.event === 'meta.raw').length >= 2, 'meta.raw from the batch call and from the general path');
    assert.ok(rows.length > Number(before.n) + 5);

    // Notifications arrive in commit order: once this one is heard, any NOTIFY sent by the
    // writes above would have been heard before it.
    await sql`SELECT pg_notify(${WEBHOOK_EVENTS_CHANNEL}, 'control')`.execute(t.database.db);
    for (let i = 0; i < 250 && !listener.heard.includes('control'); i += 1) await sleep(20);
    assert.deepEqual(listener.heard, ['control'], 'no writer sent a NOTIFY; only the control arrived');
  } finally {
    await listener.close();
  }
});

test('an event written on one node is delivered promptly by the dispatcher of another node', async () => {
  // Its own database, and a secret key both nodes share (a node refuses a key that cannot open the stored tokens).
  const secret = randomBytes(32);
  const u = await startTestApp({ cipher: new TokenCipher(secret) });
  // Node A: a real server process, the only dispatcher, polling once a minute: a prompt delivery
  // can only come from a wake-up.
  const nodeA: ServerProcess = await startParley({
    DATABASE_URL: u.database.url, PARLEY_DATA_DIR: makeDataDir(), PORT: String(await freePort()), HOST: '127.0.0.1',
    PARLEY_JOB_POLL_MS: '60000', PARLEY_ALLOW_PRIVATE_WEBHOOKS: 'true', PARLEY_SECRET_KEY: secret.toString('hex'),
  });
  // Node B: the app on the same database with the outbox signal and no dispatcher of its own.
  const signal = new OutboxSignal(u.database.db, silent, { wakeLocal: () => undefined });
  await signal.refresh();
  const nodeB = await buildApp({
    db: u.database.db, pool: u.database.pool, logger: silent, cipher: u.cipher, graph: u.graph, outbox: signal,
    config: { defaultRateLimit: 1_000_000, metaVerifyToken: 'v', metaAppSecrets: [TEST_META_APP_SECRET], allowPrivateWebhooks: true },
  });
  const { key } = await createKey(u.database.db, `cross-node-${Date.now()}`);
  const inject = async (method: 'POST' | 'PATCH', url: string, body: unknown) => {
    const response = await nodeB.inject({ method, url, headers: { 'x-api-key': key, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    assert.ok(response.statusCode < 300, response.body);
    return JSON.parse(response.body) as { data: Record<string, any> };
  };
  const waitForRequest = async (path: string, count: number, label: string) => {
    const started = performance.now();
    while (receiver.on(path).length < count) {
      if (performance.now() - started > 10_000) assert.fail(`${label} did not arrive within 10 s (node A polls only every 60 s)`);
      await sleep(10);
    }
    return performance.now() - started;
  };
  try {
    await inject('POST', '/platform/v1/whatsapp/webhooks', { whatsapp_webhook: { url: receiver.url('/cross'), secret_key: 'whsec_cross-node-secret-01', events: CONTACT_EVENTS } });
    assert.equal(signal.webhooksActive, true, 'a webhook made on this node turns the signal on at once');
    const contact = await inject('POST', '/platform/v1/whatsapp/contacts', { contact: { wa_id: freshWaId(21), display_name: 'Across' } });
    const createdMs = await waitForRequest('/cross', 1, 'whatsapp.contact.created');
    await inject('PATCH', `/platform/v1/whatsapp/contacts/${contact.data.id}`, { contact: { display_name: 'Across again' } });
    const updatedMs = await waitForRequest('/cross', 2, 'whatsapp.contact.updated');
    assert.deepEqual(receiver.on('/cross').map((r) => r.headers['x-webhook-event']), CONTACT_EVENTS);
    assert.ok(createdMs < 5000 && updatedMs < 5000, `created after ${createdMs} ms, updated after ${updatedMs} ms`);

    // Inbound on node B: its worker's committed batch signals too.
    const alphaKeyed = { key };
    const customer = await nodeB.inject({ method: 'POST', url: '/platform/v1/customers', headers: { 'x-api-key': alphaKeyed.key, 'content-type': 'application/json' }, payload: JSON.stringify({ customer: { name: 'Cross owner' } }) });
    const phoneNumberId = freshMetaId();
    const number = await nodeB.inject({
      method: 'POST', url: `/platform/v1/customers/${JSON.parse(customer.body).data.id}/whatsapp/phone_numbers`, headers: { 'x-api-key': key, 'content-type': 'application/json' },
      payload: JSON.stringify({ whatsapp_phone_number: { name: 'Cross line', phone_number_id: phoneNumberId, business_account_id: '900000000000001', access_token: 'EAAG-test-token' } }),
    });
    assert.equal(number.statusCode, 201, number.body);
    await inject('POST', `/platform/v1/whatsapp/phone_numbers/${phoneNumberId}/webhooks`, { whatsapp_webhook: { url: receiver.url('/cross-inbound'), secret_key: 'whsec_cross-node-secret-02', events: ['whatsapp.message.received'] } });
    const raw = JSON.stringify(inboundTextBody({ phoneNumberId, from: freshWaId(22), text: 'across nodes' }));
    const stored = await nodeB.inject({ method: 'POST', url: '/webhooks/meta', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, TEST_META_APP_SECRET) }, payload: raw });
    assert.equal(stored.statusCode, 200, stored.body);
    // Node A's inbound worker also polls once a minute; this one plays node B's.
    await new MetaEventWorker(u.database.db, silent, { pollMs: 50, onProcessed: () => signal.written() }).drain();
    const inboundMs = await waitForRequest('/cross-inbound', 1, 'whatsapp.message.received');
    assert.ok(inboundMs < 5000, `inbound message delivered after ${inboundMs} ms`);
  } finally {
    signal.stop();
    await nodeB.close();
    await stopParley(nodeA);
    await u.close();
  }
});

test('with no active webhook a write wakes nothing and sends no NOTIFY', async () => {
  const fresh = await startTestApp();
  let wakes = 0;
  const signal = new OutboxSignal(fresh.database.db, silent, { wakeLocal: () => (wakes += 1) });
  const listener = await listen(fresh.database.url);
  try {
    await signal.refresh();
    assert.equal(signal.webhooksActive, false);
    signal.written();
    await sql`SELECT pg_notify(${WEBHOOK_EVENTS_CHANNEL}, 'control')`.execute(fresh.database.db);
    for (let i = 0; i < 250 && !listener.heard.includes('control'); i += 1) await sleep(20);
    assert.deepEqual(listener.heard, ['control']);
    assert.equal(wakes, 0);
    await insertWebhook(fresh.database.db, { project_id: await projectId(fresh.database.db, 'alpha'), url: receiver.url('/x'), events: CONTACT_EVENTS });
    await signal.refresh();
    signal.written();
    assert.equal(wakes, 1, 'with a webhook the first signal wakes at once');
  } finally {
    signal.stop();
    await listener.close();
    await fresh.close();
  }
});
