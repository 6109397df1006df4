// The webhook configuration API through the real app: both route families (project and phone
// number), defaults, lists in offset mode, tenant isolation, secrets kept out of lists, and the
// test endpoint's single targeted outbox row.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { OutboxSignal } from '../../src/webhooks/outbox-signal.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { connectNumber } from '../helpers/meta.ts';

const BASE = '/platform/v1';
const HOOK_URL = 'http://127.0.0.1:9/hooks/parley';
const SECRET = 'wh_sec_3kfj9dmfkg8s2-not-in-lists';
const UNKNOWN_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const FIELDS = [
  'id', 'url', 'kind', 'events', 'active', 'secret_key', 'headers', 'phone_number_id', 'buffer_enabled', 'buffer_window_seconds', 'max_buffer_size',
  'buffer_events', 'inactivity_minutes', 'payload_version', 'project_id', 'created_at', 'updated_at',
].sort();

let t: TestApp;
let number: string;
before(async () => {
  t = await startTestApp();
  number = (await connectNumber(t)).phoneNumberId;
});
after(async () => t?.close());

const projectHooks = `${BASE}/whatsapp/webhooks`;
const numberHooks = (id = number) => `${BASE}/whatsapp/phone_numbers/${id}/webhooks`;

async function createProjectHook(fields: Record<string, unknown> = {}, key = t.key): Promise<TestResponse> {
  return t.request({ method: 'POST', url: projectHooks, key, body: { whatsapp_webhook: { url: HOOK_URL, events: ['whatsapp.contact.created'], ...fields } } });
}

async function createNumberHook(fields: Record<string, unknown> = {}, phoneNumberId = number, key = t.key): Promise<TestResponse> {
  return t.request({
    method: 'POST',
    url: numberHooks(phoneNumberId),
    key,
    body: { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, events: ['whatsapp.message.received'], ...fields } },
  });
}

function created(response: TestResponse): Record<string, any> {
  assert.equal(response.status, 201, response.text);
  assert.deepEqual(Object.keys(response.body.data).sort(), FIELDS);
  return response.body.data;
}

test('a project webhook is created with the defaults and every documented field', async () => {
  const data = created(await createProjectHook({ events: ['whatsapp.phone_number.created', 'whatsapp.contact.updated', 'whatsapp.phone_number.created'] }));
  assert.match(data.id, /^[0-9a-f-]{36}$/);
  assert.equal(data.url, HOOK_URL);
  assert.equal(data.kind, 'kapso');
  assert.deepEqual(data.events, ['whatsapp.phone_number.created', 'whatsapp.contact.updated'], 'duplicates dropped, order kept');
  assert.equal(data.active, true);
  assert.equal(data.secret_key, null, 'a project webhook may have no secret');
  assert.deepEqual(data.headers, {});
  assert.equal(data.phone_number_id, null);
  assert.equal(data.buffer_enabled, false);
  assert.equal(data.buffer_window_seconds, 5);
  assert.equal(data.max_buffer_size, 50);
  assert.deepEqual(data.buffer_events, []);
  assert.equal(data.inactivity_minutes, 60);
  assert.equal(data.payload_version, 'v2');
  assert.match(data.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  assert.equal(data.created_at, data.updated_at);
  const row = await t.database.db.selectFrom('webhooks').selectAll().where('id', '=', data.id).executeTakeFirstOrThrow();
  assert.equal(row.project_id, data.project_id);
  assert.equal(row.phone_number_id, null);
});

test('a phone number webhook keeps every setting it is given, secret included', async () => {
  const data = created(
    await createNumberHook({
      events: ['whatsapp.message.received', 'whatsapp.message.sent', 'whatsapp.conversation.inactive'],
      active: false,
      buffer_enabled: true,
      buffer_window_seconds: 10,
      max_buffer_size: 25,
      buffer_events: ['whatsapp.message.received'],
      inactivity_minutes: 30,
      headers: { 'X-Source': 'parley-test', Authorization: 'Bearer abc' },
      payload_version: 'v2',
    }),
  );
  assert.equal(data.phone_number_id, number);
  assert.equal(data.secret_key, SECRET);
  assert.equal(data.active, false);
  assert.equal(data.buffer_enabled, true);
  assert.equal(data.buffer_window_seconds, 10);
  assert.equal(data.max_buffer_size, 25);
  assert.deepEqual(data.buffer_events, ['whatsapp.message.received']);
  assert.equal(data.inactivity_minutes, 30);
  assert.deepEqual(data.headers, { 'X-Source': 'parley-test', Authorization: 'Bearer abc' });
  const got = await t.request({ method: 'GET', url: `${numberHooks()}/${data.id}` });
  assert.equal(got.status, 200, got.text);
  assert.deepEqual(got.body.data, data);
});

test('the project route creates number-scoped and meta webhooks when given phone_number_id', async () => {
  const own = await connectNumber(t);
  const scoped = created(await createProjectHook({ phone_number_id: own.phoneNumberId, secret_key: SECRET, events: ['whatsapp.conversation.created'] }));
  assert.equal(scoped.phone_number_id, own.phoneNumberId);
  const meta = created(await createProjectHook({ phone_number_id: own.phoneNumberId, secret_key: SECRET, kind: 'meta', events: ['whatsapp.message.received'] }));
  assert.equal(meta.kind, 'meta');
  assert.deepEqual(meta.events, [], 'events of a meta webhook are normalised to none');
  const viaNumber = await t.request({ method: 'GET', url: `${numberHooks(own.phoneNumberId)}/${meta.id}` });
  assert.equal(viaNumber.status, 200, viaNumber.text);
  const unknown = await createProjectHook({ phone_number_id: '999000111222333', secret_key: SECRET, events: ['whatsapp.message.sent'] });
  assert.equal(unknown.status, 404, unknown.text);
  assert.deepEqual(unknown.body, { error: 'Phone number not found' });
});

test('get, patch and delete through the project routes', async () => {
  const data = created(await createProjectHook({ secret_key: 'first-secret' }));
  const url = `${projectHooks}/${data.id}`;
  const got = await t.request({ method: 'GET', url });
  assert.equal(got.status, 200);
  assert.equal(got.body.data.secret_key, 'first-secret', 'the webhook’s own response shows its secret');

  const patched = await t.request({
    method: 'PATCH',
    url,
    body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/v2', active: false, events: ['whatsapp.contact.erased'], secret_key: 'rotated', headers: { 'X-A': '1' }, kind: 'kapso' } },
  });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.data.url, 'http://127.0.0.1:9/v2');
  assert.equal(patched.body.data.active, false);
  assert.deepEqual(patched.body.data.events, ['whatsapp.contact.erased']);
  assert.equal(patched.body.data.secret_key, 'rotated');
  assert.deepEqual(patched.body.data.headers, { 'X-A': '1' });
  assert.ok(patched.body.data.updated_at > data.updated_at);
  assert.equal(patched.body.data.created_at, data.created_at);

  const cleared = await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { headers: null, secret_key: null, inactivity_minutes: null } } });
  assert.equal(cleared.status, 200, cleared.text);
  assert.deepEqual(cleared.body.data.headers, {});
  assert.equal(cleared.body.data.secret_key, null);
  assert.equal(cleared.body.data.inactivity_minutes, 60, 'null restores the default');
  assert.equal(cleared.body.data.url, 'http://127.0.0.1:9/v2', 'absent fields stay');

  const deleted = await t.request({ method: 'DELETE', url });
  assert.equal(deleted.status, 204);
  assert.equal(deleted.text, '');
  assert.equal((await t.request({ method: 'GET', url })).status, 404);
  assert.equal((await t.request({ method: 'DELETE', url })).status, 404);
});

test('get, patch and delete through the phone number routes; another number’s webhook is not found', async () => {
  const data = created(await createNumberHook());
  const url = `${numberHooks()}/${data.id}`;
  const patched = await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { buffer_enabled: true, buffer_window_seconds: 5, max_buffer_size: 20, buffer_events: ['whatsapp.message.received'] } } });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.data.max_buffer_size, 20);
  assert.equal(patched.body.data.secret_key, SECRET);

  const other = await connectNumber(t);
  for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
    const response = await t.request({ method, url: `${numberHooks(other.phoneNumberId)}/${data.id}`, body: method === 'PATCH' ? { whatsapp_webhook: { active: false } } : undefined });
    assert.equal(response.status, 404, `${method}: ${response.text}`);
    assert.deepEqual(response.body, { error: 'Webhook not found' });
  }
  const deleted = await t.request({ method: 'DELETE', url });
  assert.equal(deleted.status, 204);
  assert.equal(await t.database.db.selectFrom('webhooks').select('id').where('id', '=', data.id).executeTakeFirst(), undefined);
});

test('phone number routes answer 404 for a number that is unknown, disconnected or another project’s', async () => {
  const gone = await connectNumber(t);
  const hook = created(await createNumberHook({}, gone.phoneNumberId));
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/whatsapp/phone_numbers/${gone.phoneNumberId}` })).status, 204);
  const foreign = await connectNumber(t, { key: t.otherKey });
  for (const id of ['123456789012345', gone.phoneNumberId, foreign.phoneNumberId]) {
    const calls = [
      { method: 'GET' as const, url: numberHooks(id) },
      { method: 'POST' as const, url: numberHooks(id), body: { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, events: ['whatsapp.message.read'] } } },
      { method: 'GET' as const, url: `${numberHooks(id)}/${hook.id}` },
      { method: 'PATCH' as const, url: `${numberHooks(id)}/${hook.id}`, body: { whatsapp_webhook: { active: false } } },
      { method: 'DELETE' as const, url: `${numberHooks(id)}/${hook.id}` },
    ];
    for (const call of calls) {
      const response = await t.request(call);
      assert.equal(response.status, 404, `${call.method} ${call.url}: ${response.text}`);
      assert.deepEqual(response.body, { error: 'Phone number not found' });
    }
  }
  const still = await t.request({ method: 'GET', url: `${projectHooks}/${hook.id}` });
  assert.equal(still.status, 200, 'a disconnected number’s webhook stays reachable through the project routes');
});

test('another project’s webhook is a 404 on every route; ids that are not UUIDs too', async () => {
  const data = created(await createNumberHook());
  const foreign = created(await createProjectHook({}, t.otherKey));
  for (const id of [data.id, 'not-a-uuid', UNKNOWN_ID]) {
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const response = await t.request({ method, url: `${projectHooks}/${id}`, key: t.otherKey, body: method === 'PATCH' ? { whatsapp_webhook: { active: false } } : undefined });
      assert.equal(response.status, 404, `${method} ${id}: ${response.text}`);
      assert.deepEqual(response.body, { error: 'Webhook not found' });
    }
    const tested = await t.request({ method: 'POST', url: `${projectHooks}/${id}/test`, key: t.otherKey, body: {} });
    assert.equal(tested.status, 404);
  }
  const list = await t.request({ method: 'GET', url: projectHooks, key: t.otherKey });
  assert.deepEqual(list.body.data.map((w: { id: string }) => w.id), [foreign.id]);
  const mine = await t.request({ method: 'GET', url: `${projectHooks}/${data.id}` });
  assert.equal(mine.body.data.active, true, 'untouched by the other project');
  assert.notEqual(foreign.project_id, data.project_id);
});

test('lists are offset pages, newest first, without secrets; filters narrow them', async () => {
  const own = await connectNumber(t);
  const first = created(await createNumberHook({ events: ['whatsapp.message.sent'] }, own.phoneNumberId));
  const second = created(await createNumberHook({ url: 'http://127.0.0.1:9/other-Path', active: false }, own.phoneNumberId));
  const third = created(await createNumberHook({ kind: 'meta', events: undefined }, own.phoneNumberId));

  const all = await t.request({ method: 'GET', url: numberHooks(own.phoneNumberId) });
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.body.data.map((w: { id: string }) => w.id), [third.id, second.id, first.id]);
  assert.deepEqual(all.body.meta, { page: 1, per_page: 20, total_pages: 1, total_count: 3 });
  assert.equal(all.headers['x-total'], '3');
  assert.ok(!all.text.includes(SECRET), 'no secret in a list');
  for (const webhook of all.body.data) assert.equal(webhook.secret_key, null);

  const page = await t.request({ method: 'GET', url: `${numberHooks(own.phoneNumberId)}?per_page=1&page=2` });
  assert.deepEqual(page.body.data.map((w: { id: string }) => w.id), [second.id]);
  assert.deepEqual(page.body.meta, { page: 2, per_page: 1, total_pages: 3, total_count: 3 });
  assert.equal(page.headers['x-page'], '2');
  assert.match(String(page.headers.link), /rel="next"/);

  const ids = async (query: string) => (await t.request({ method: 'GET', url: `${numberHooks(own.phoneNumberId)}?${query}` })).body.data.map((w: { id: string }) => w.id);
  assert.deepEqual(await ids('kind=meta'), [third.id]);
  assert.deepEqual(await ids('active=false'), [second.id]);
  assert.deepEqual(await ids('url_contains=OTHER-path'), [second.id]);
  assert.deepEqual(await ids(`created_after=${encodeURIComponent(first.created_at)}`), [third.id, second.id]);
  assert.deepEqual(await ids(`created_before=${encodeURIComponent(second.created_at)}`), [first.id]);

  const project = await t.request({ method: 'GET', url: `${projectHooks}?per_page=100` });
  assert.equal(project.status, 200);
  const projectIds = project.body.data.map((w: { id: string }) => w.id);
  for (const id of [first.id, second.id, third.id]) assert.ok(projectIds.includes(id), 'the project list holds number-scoped webhooks too');
  assert.ok(!project.text.includes(SECRET));
  const metaOnly = await t.request({ method: 'GET', url: `${projectHooks}?kind=meta&per_page=100` });
  assert.ok(metaOnly.body.data.every((w: { kind: string }) => w.kind === 'meta'));
  assert.ok(metaOnly.body.data.some((w: { id: string }) => w.id === third.id));

  assert.equal((await t.request({ method: 'GET', url: `${projectHooks}?page=0` })).status, 400);
  assert.equal((await t.request({ method: 'GET', url: `${projectHooks}?kind=other` })).status, 422);
});

async function outboxRows(webhookId: string) {
  return t.database.db.selectFrom('webhook_events').selectAll().where('webhook_id', '=', webhookId).execute();
}

test('the test endpoint queues exactly one sample event for that webhook alone', async () => {
  const hook = created(await createNumberHook({ events: ['whatsapp.message.sent', 'whatsapp.message.received'] }));
  const before = await t.database.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const response = await t.request({ method: 'POST', url: `${projectHooks}/${hook.id}/test`, body: {} });
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.body, { data: { success: true } });
  const after = await t.database.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(after.n) - Number(before.n), 1, 'one outbox row in total');
  const rows = await outboxRows(hook.id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.event, 'whatsapp.message.sent', 'the first subscribed event by default');
  assert.equal(rows[0]!.phone_number_id, number);
  assert.equal(rows[0]!.project_id, hook.project_id);
  assert.deepEqual(rows[0]!.subject, { sample: true });
  assert.equal(rows[0]!.dispatched_at, null);

  const chosen = await t.request({ method: 'POST', url: `${projectHooks}/${hook.id}/test`, body: { event_type: 'whatsapp.message.received' } });
  assert.equal(chosen.status, 200, chosen.text);
  assert.deepEqual((await outboxRows(hook.id)).map((r) => r.event).sort(), ['whatsapp.message.received', 'whatsapp.message.sent']);

  const noBody = await t.request({ method: 'POST', url: `${projectHooks}/${hook.id}/test` });
  assert.equal(noBody.status, 200, `a test without a body uses the default event: ${noBody.text}`);
  assert.equal((await outboxRows(hook.id)).length, 3);
});

test('queueing a test wakes the dispatchers after its commit, here and (by a NOTIFY outside the transaction) on other nodes', async () => {
  let wakes = 0;
  const database = await createTestDatabase();
  const signal = new OutboxSignal(database.db, pino({ level: 'silent' }), { wakeLocal: () => (wakes += 1) });
  const node = await startTestApp({ database, outbox: signal });
  const listener = new pg.Client({ connectionString: node.database.url });
  await listener.connect();
  try {
    const made = await node.request({ method: 'POST', url: projectHooks, body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/a', events: ['whatsapp.contact.created'] } } });
    assert.equal(made.status, 201, made.text);
    await listener.query('LISTEN parley_webhook_events');
    const notified = new Promise<string>((resolve) => listener.once('notification', (message) => resolve(message.channel)));
    const before = wakes;
    const response = await node.request({ method: 'POST', url: `${projectHooks}/${made.body.data.id}/test`, body: {} });
    assert.equal(response.status, 200, response.text);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no notification'), 2000).unref());
    assert.equal(await Promise.race([notified, timeout]), 'parley_webhook_events');
    for (let i = 0; i < 100 && wakes === before; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(wakes > before, 'the local dispatcher was woken');
  } finally {
    signal.stop();
    await listener.end();
    await node.close();
    await database.drop();
  }
});

test('the test endpoint refuses events the webhook does not take, and paused webhooks', async () => {
  const hook = created(await createProjectHook({ events: ['whatsapp.contact.created'] }));
  const url = `${projectHooks}/${hook.id}/test`;
  for (const event_type of ['whatsapp.contact.updated', 'whatsapp.message.received', 'nonsense']) {
    const response = await t.request({ method: 'POST', url, body: { event_type } });
    assert.equal(response.status, 422, response.text);
    assert.match(response.body.error, /event_type/);
  }
  assert.equal((await t.request({ method: 'POST', url, body: { event_type: 'x', extra: 1 } })).status, 422);
  assert.equal((await t.request({ method: 'PATCH', url: `${projectHooks}/${hook.id}`, body: { whatsapp_webhook: { active: false } } })).status, 200);
  const paused = await t.request({ method: 'POST', url, body: {} });
  assert.equal(paused.status, 422, paused.text);
  assert.match(paused.body.error, /active/);
  assert.equal((await outboxRows(hook.id)).length, 0);
});

test('testing a meta webhook queues meta.test with the number', async () => {
  const own = await connectNumber(t);
  const meta = created(await createNumberHook({ kind: 'meta', events: undefined }, own.phoneNumberId));
  const refused = await t.request({ method: 'POST', url: `${projectHooks}/${meta.id}/test`, body: { event_type: 'whatsapp.message.received' } });
  assert.equal(refused.status, 422, refused.text);
  const response = await t.request({ method: 'POST', url: `${projectHooks}/${meta.id}/test`, body: {} });
  assert.equal(response.status, 200, response.text);
  const rows = await outboxRows(meta.id);
  assert.deepEqual(rows.map((r) => [r.event, r.phone_number_id]), [['meta.test', own.phoneNumberId]]);
});

test('every route needs a key', async () => {
  const hook = created(await createProjectHook());
  const calls = [
    ['GET', projectHooks], ['POST', projectHooks], ['GET', `${projectHooks}/${hook.id}`], ['PATCH', `${projectHooks}/${hook.id}`], ['DELETE', `${projectHooks}/${hook.id}`],
    ['POST', `${projectHooks}/${hook.id}/test`], ['GET', numberHooks()], ['POST', numberHooks()], ['GET', `${numberHooks()}/${hook.id}`],
    ['PATCH', `${numberHooks()}/${hook.id}`], ['DELETE', `${numberHooks()}/${hook.id}`],
  ] as const;
  for (const [method, url] of calls) {
    for (const key of [null, 'pk_live_wrong']) {
      const response = await t.request({ method, url, key, body: method === 'POST' || method === 'PATCH' ? { whatsapp_webhook: {} } : undefined });
      assert.equal(response.status, 401, `${method} ${url}`);
    }
  }
});
