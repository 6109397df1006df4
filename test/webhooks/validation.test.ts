// Every rule of a webhook's configuration, on create and on update: each refusal is a 422 that
// names the field, and leaves nothing behind. Destinations on private networks are refused when
// the app does not allow them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber } from '../helpers/meta.ts';

const BASE = '/platform/v1';
const HOOK_URL = 'http://127.0.0.1:9/hook';
const SECRET = 'wh_sec_test';

let t: TestApp;
let strict: TestApp;
let number: string;
before(async () => {
  t = await startTestApp();
  strict = await startTestApp({ allowPrivateWebhooks: false });
  number = (await connectNumber(t)).phoneNumberId;
});
after(async () => {
  await t?.close();
  await strict?.close();
});

const projectHooks = `${BASE}/whatsapp/webhooks`;
const numberHooks = (id = number) => `${BASE}/whatsapp/phone_numbers/${id}/webhooks`;
const NUMBER_DEFAULTS = { url: HOOK_URL, secret_key: SECRET, events: ['whatsapp.message.received'] };
const PROJECT_DEFAULTS = { url: HOOK_URL, events: ['whatsapp.contact.created'] };

async function count(): Promise<number> {
  const row = await t.database.db.selectFrom('webhooks').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Asserts a 422 whose message matches `message`, with no webhook created. */
async function refused(url: string, fields: Record<string, unknown>, message: RegExp, app = t): Promise<void> {
  const before = await count();
  const response = await app.request({ method: 'POST', url, body: { whatsapp_webhook: fields } });
  assert.equal(response.status, 422, `${JSON.stringify(fields)}: ${response.text}`);
  assert.match(response.body.error, message);
  assert.deepEqual(Object.keys(response.body), ['error']);
  if (app === t) assert.equal(await count(), before);
}

const onNumber = (fields: Record<string, unknown>, message: RegExp) => refused(numberHooks(), { ...NUMBER_DEFAULTS, ...fields }, message);
const onProject = (fields: Record<string, unknown>, message: RegExp) => refused(projectHooks, { ...PROJECT_DEFAULTS, ...fields }, message);

test('the body shape: wrapper, required fields, types, ranges and unknown fields', async () => {
  const bare = await t.request({ method: 'POST', url: numberHooks(), body: NUMBER_DEFAULTS });
  assert.equal(bare.status, 422);
  assert.match(bare.body.error, /whatsapp_webhook/);
  await refused(numberHooks(), { secret_key: SECRET, events: ['whatsapp.message.received'] }, /^whatsapp_webhook\.url is required$/);
  await refused(projectHooks, { events: ['whatsapp.contact.created'] }, /^whatsapp_webhook\.url is required$/);
  await refused(numberHooks(), { url: HOOK_URL, events: ['whatsapp.message.received'] }, /^whatsapp_webhook\.secret_key is required/);
  await onNumber({ secret_key: '' }, /secret_key must not be empty/);
  await onNumber({ nickname: 'x' }, /^whatsapp_webhook\.nickname is not a known field$/);
  await onProject({ id: '0f8fad5b-d9cb-469f-a165-70867728950e' }, /whatsapp_webhook\.id is not a known field/);
  await onNumber({ phone_number_id: number }, /phone_number_id is not a known field/);
  await onNumber({ kind: 'slack' }, /whatsapp_webhook\.kind must be one of kapso, meta/);
  await onNumber({ active: 'yes' }, /whatsapp_webhook\.active must be true or false/);
  await onNumber({ events: 'whatsapp.message.received' }, /whatsapp_webhook\.events must be an array/);
  await onNumber({ buffer_window_seconds: 0 }, /buffer_window_seconds must be at least 1/);
  await onNumber({ buffer_window_seconds: 61 }, /buffer_window_seconds must be at most 60/);
  await onNumber({ buffer_window_seconds: 2.5 }, /buffer_window_seconds must be a whole number/);
  await onNumber({ max_buffer_size: 0 }, /max_buffer_size must be at least 1/);
  await onNumber({ max_buffer_size: 101 }, /max_buffer_size must be at most 100/);
  await onNumber({ inactivity_minutes: 0 }, /inactivity_minutes must be at least 1/);
  await onNumber({ inactivity_minutes: 1441 }, /inactivity_minutes must be at most 1440/);
  await onNumber({ payload_version: 'v1' }, /payload_version must be v2/);
  const extra = await t.request({ method: 'POST', url: numberHooks(), body: { whatsapp_webhook: NUMBER_DEFAULTS, other: 1 } });
  assert.equal(extra.status, 422);
  assert.match(extra.body.error, /other is not a known field/);
});

test('the bounds are accepted at their edges', async () => {
  const response = await t.request({
    method: 'POST',
    url: numberHooks(),
    body: { whatsapp_webhook: { ...NUMBER_DEFAULTS, buffer_window_seconds: 60, max_buffer_size: 100, inactivity_minutes: 1440, payload_version: null } },
  });
  assert.equal(response.status, 201, response.text);
  assert.equal(response.body.data.payload_version, 'v2');
  const low = await t.request({ method: 'PATCH', url: `${numberHooks()}/${response.body.data.id}`, body: { whatsapp_webhook: { buffer_window_seconds: 1, max_buffer_size: 1, inactivity_minutes: 1 } } });
  assert.equal(low.status, 200, low.text);
});

test('the URL must be an absolute http(s) URL without credentials', async () => {
  await onNumber({ url: 'not a url' }, /^whatsapp_webhook\.url must be an absolute http or https URL$/);
  await onNumber({ url: 'ftp://127.0.0.1/x' }, /url must use http or https/);
  await onNumber({ url: 'http://user:pass@127.0.0.1/x' }, /url must not contain credentials/);
  await onNumber({ url: '' }, /url must not be empty/);
  await onNumber({ url: `http://127.0.0.1/${'a'.repeat(2100)}` }, /url must be at most 2048 characters/);
  await onNumber({ url: 'http://127.0.0.1/\u0000' }, /^whatsapp_webhook\.url must not contain the NUL character$/);
});

test('events: known names, the right scope, at least one for kapso webhooks', async () => {
  await onNumber({ events: [] }, /whatsapp_webhook\.events must list at least one event/);
  await refused(numberHooks(), { url: HOOK_URL, secret_key: SECRET }, /whatsapp_webhook\.events must list at least one event/);
  await onNumber({ events: ['whatsapp.message.received', 'whatsapp.message.bounced'] }, /events contains an unknown event: whatsapp\.message\.bounced/);
  await onNumber({ events: ['whatsapp.contact.created'] }, /events contains whatsapp\.contact\.created, a project event/);
  await onNumber({ events: ['whatsapp.phone_number.deleted'] }, /events contains whatsapp\.phone_number\.deleted, a project event/);
  await onProject({ events: ['whatsapp.message.received'] }, /events contains whatsapp\.message\.received, which needs a phone number/);
  await onProject({ events: ['whatsapp.conversation.ended'] }, /which needs a phone number/);
  await onProject({ events: [] }, /events must list at least one event/);
  await onProject({ phone_number_id: number, secret_key: SECRET, events: ['whatsapp.contact.updated'] }, /a project event/);
});

test('buffering: only received messages, a subset of events, not without an event', async () => {
  await onNumber({ buffer_events: ['whatsapp.message.sent'], events: ['whatsapp.message.sent'] }, /buffer_events may only contain whatsapp\.message\.received/);
  await onNumber({ events: ['whatsapp.message.sent'], buffer_events: ['whatsapp.message.received'] }, /buffer_events contains whatsapp\.message\.received, which is not in events/);
  await onNumber({ buffer_enabled: true }, /whatsapp_webhook\.buffer_events must list an event to batch/);
  await onProject({ buffer_enabled: true }, /buffer_events must list an event/);
  await onNumber({ buffer_events: ['nonsense'] }, /buffer_events may only contain/);
});

test('meta webhooks: a number is required, buffering is refused, events are dropped', async () => {
  await onProject({ kind: 'meta', secret_key: SECRET }, /whatsapp_webhook\.phone_number_id is required for meta webhooks/);
  const own = await connectNumber(t);
  const url = numberHooks(own.phoneNumberId);
  await refused(url, { url: HOOK_URL, secret_key: SECRET, kind: 'meta', buffer_enabled: true }, /buffer_enabled is not supported for meta webhooks/);
  await refused(url, { url: HOOK_URL, secret_key: SECRET, kind: 'meta', buffer_events: ['whatsapp.message.received'] }, /buffer_events is not supported/);
  await refused(url, { url: HOOK_URL, secret_key: SECRET, kind: 'meta', buffer_window_seconds: 5 }, /buffer_window_seconds is not supported/);
  await refused(url, { url: HOOK_URL, secret_key: SECRET, kind: 'meta', max_buffer_size: 5 }, /max_buffer_size is not supported/);
  await refused(url, { url: HOOK_URL, kind: 'meta' }, /secret_key is required/);
  const created = await t.request({ method: 'POST', url, body: { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, kind: 'meta', events: ['anything'], buffer_enabled: false } } });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.body.data.events, []);
  const patched = await t.request({ method: 'PATCH', url: `${url}/${created.body.data.id}`, body: { whatsapp_webhook: { events: ['whatsapp.message.received'], active: false } } });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.body.data.events, [], 'still none after an update');
  const buffered = await t.request({ method: 'PATCH', url: `${url}/${created.body.data.id}`, body: { whatsapp_webhook: { buffer_enabled: true } } });
  assert.equal(buffered.status, 422);
});

test('one meta webhook per number: a second is a 422, through either route', async () => {
  const own = await connectNumber(t);
  const first = await t.request({ method: 'POST', url: numberHooks(own.phoneNumberId), body: { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, kind: 'meta' } } });
  assert.equal(first.status, 201, first.text);
  await refused(numberHooks(own.phoneNumberId), { url: HOOK_URL, secret_key: SECRET, kind: 'meta' }, new RegExp(`kind meta is taken: phone number ${own.phoneNumberId} already has a meta webhook`));
  await refused(projectHooks, { url: HOOK_URL, secret_key: SECRET, kind: 'meta', phone_number_id: own.phoneNumberId }, /already has a meta webhook/);
  const other = await connectNumber(t);
  const elsewhere = await t.request({ method: 'POST', url: numberHooks(other.phoneNumberId), body: { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, kind: 'meta' } } });
  assert.equal(elsewhere.status, 201, 'another number may have its own');
  const kapso = await t.request({ method: 'POST', url: numberHooks(own.phoneNumberId), body: { whatsapp_webhook: NUMBER_DEFAULTS } });
  assert.equal(kapso.status, 201, 'kapso webhooks are not limited');

  const racing = await connectNumber(t);
  const body = { whatsapp_webhook: { url: HOOK_URL, secret_key: SECRET, kind: 'meta' } };
  const answers = await Promise.all(Array.from({ length: 4 }, () => t.request({ method: 'POST', url: numberHooks(racing.phoneNumberId), body })));
  assert.deepEqual(answers.map((a) => a.status).sort(), [201, 422, 422, 422], 'concurrent creates: the unique index lets one through');
});

test('headers: string values, valid names, at most 20, none that Parley sets', async () => {
  await onNumber({ headers: { 'X-Count': 3 } }, /whatsapp_webhook\.headers\.X-Count must be a string/);
  await onNumber({ headers: ['X-A'] }, /headers must be an object/);
  await onNumber({ headers: { 'Bad Name': 'x' } }, /headers has an invalid header name: "Bad Name"/);
  await onNumber({ headers: { 'X-Ok': 'a\r\nX-Injected: 1' } }, /headers\.X-Ok must not contain control characters/);
  await onNumber({ headers: { 'X-Long': 'a'.repeat(2049) } }, /headers\.X-Long must be at most 2048 characters/);
  await onNumber({ headers: { 'x-a': '1', 'X-A': '2' } }, /headers names X-A twice/);
  const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));
  await onNumber({ headers: many }, /headers may hold at most 20 headers/);
  for (const name of ['Content-Type', 'host', 'Content-Length', 'X-Webhook-Signature', 'x-webhook-event', 'X-Idempotency-Key', 'Transfer-Encoding']) {
    await onNumber({ headers: { [name]: 'x' } }, new RegExp(`headers must not set ${name}; Parley sets it`));
  }
  const twenty = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`X-H${i}`, 'v\tw']));
  const ok = await t.request({ method: 'POST', url: numberHooks(), body: { whatsapp_webhook: { ...NUMBER_DEFAULTS, headers: twenty } } });
  assert.equal(ok.status, 201, ok.text);
  assert.deepEqual(ok.body.data.headers, twenty);
});

test('updates keep the rules: fixed kind, secrets of number webhooks, merged events and buffers', async () => {
  const created = await t.request({
    method: 'POST',
    url: numberHooks(),
    body: { whatsapp_webhook: { ...NUMBER_DEFAULTS, events: ['whatsapp.message.received', 'whatsapp.message.sent'], buffer_enabled: true, buffer_events: ['whatsapp.message.received'] } },
  });
  assert.equal(created.status, 201, created.text);
  const url = `${numberHooks()}/${created.body.data.id}`;
  const patch = async (fields: Record<string, unknown>, message: RegExp) => {
    const response = await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: fields } });
    assert.equal(response.status, 422, `${JSON.stringify(fields)}: ${response.text}`);
    assert.match(response.body.error, message);
  };
  await patch({ kind: 'meta' }, /^whatsapp_webhook\.kind cannot be changed after creation$/);
  await patch({ secret_key: null }, /secret_key is required for phone number webhooks/);
  await patch({ events: ['whatsapp.message.sent'] }, /buffer_events contains whatsapp\.message\.received, which is not in events/);
  await patch({ events: [] }, /events must list at least one event/);
  await patch({ events: ['whatsapp.contact.created'] }, /a project event/);
  await patch({ buffer_events: [] }, /buffer_events must list an event to batch/);
  await patch({ url: 'gopher://127.0.0.1/' }, /url must use http or https/);
  await patch({ phone_number_id: '1' }, /phone_number_id is not a known field/);
  await patch({ max_buffer_size: 500 }, /max_buffer_size must be at most 100/);
  const unchanged = await t.request({ method: 'GET', url });
  assert.deepEqual(unchanged.body.data, created.body.data, 'refused updates change nothing');
  const both = await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { events: ['whatsapp.message.sent'], buffer_enabled: false, buffer_events: [] } } });
  assert.equal(both.status, 200, both.text);
  const same = await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { kind: 'kapso' } } });
  assert.equal(same.status, 200, 'the same kind is not a change');
  assert.equal(same.body.data.updated_at, both.body.data.updated_at, 'a no-op update writes nothing');
});

test('destinations on loopback, private, link-local and metadata addresses are refused', async () => {
  const strictNumber = (await connectNumber(strict)).phoneNumberId;
  const targets = ['http://127.0.0.1/hook', 'http://127.0.0.1:8080/x', 'http://10.0.0.1/', 'http://192.168.1.10/', 'http://172.16.0.1/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'http://[fd00::1]/', 'http://0.0.0.0/', 'http://2130706433/', 'http://localhost/', 'http://localhost:3000/hook'];
  for (const url of targets) {
    await refused(`${BASE}/whatsapp/webhooks`, { url, events: ['whatsapp.contact.created'] }, /^whatsapp_webhook\.url (resolves to .*a private or internal address|host .* does not resolve)/, strict);
    await refused(`${BASE}/whatsapp/phone_numbers/${strictNumber}/webhooks`, { ...NUMBER_DEFAULTS, url }, /private or internal address|does not resolve/, strict);
  }
  // The refusal names the setting that allows such destinations.
  const loopback = await strict.request({ method: 'POST', url: `${BASE}/whatsapp/webhooks`, body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/h', events: ['whatsapp.contact.created'] } } });
  assert.equal(loopback.status, 422);
  assert.match(loopback.body.error, /^whatsapp_webhook\.url resolves to 127\.0\.0\.1, a private or internal address; .*PARLEY_ALLOW_PRIVATE_WEBHOOKS=true/);
  const publicHook = await strict.request({ method: 'POST', url: `${BASE}/whatsapp/webhooks`, body: { whatsapp_webhook: { url: 'https://93.184.215.14/hook', events: ['whatsapp.contact.created'] } } });
  assert.equal(publicHook.status, 201, publicHook.text);
  const moved = await strict.request({ method: 'PATCH', url: `${BASE}/whatsapp/webhooks/${publicHook.body.data.id}`, body: { whatsapp_webhook: { url: 'http://169.254.169.254/' } } });
  assert.equal(moved.status, 422, 'an update cannot move a webhook to a private address');
  assert.match(moved.body.error, /169\.254\.169\.254/);
  const kept = await strict.request({ method: 'GET', url: `${BASE}/whatsapp/webhooks/${publicHook.body.data.id}` });
  assert.equal(kept.body.data.url, 'https://93.184.215.14/hook');
});

// WHATWG URL parsing writes an IPv4-mapped IPv6 host in hex (::ffff:7f00:1), which
// destination.ts's dotted-quad check does not recognise; fixed there, this test passes.
test('IPv4-mapped IPv6 destinations are refused', async () => {
  for (const url of ['http://[::ffff:127.0.0.1]/', 'http://[::ffff:169.254.169.254]/']) {
    const response = await strict.request({ method: 'POST', url: `${BASE}/whatsapp/webhooks`, body: { whatsapp_webhook: { url, events: ['whatsapp.contact.created'] } } });
    assert.equal(response.status, 422, `${url}: ${response.text}`);
  }
});

test('the project list validates the filters it applies (active=abc was a 500)', async () => {
  for (const [query, message] of [['active=abc', /^active must be true or false$/], ['created_after=zz', /^created_after must be a valid ISO 8601 date-time$/], ['url_contains=', /^url_contains must not be empty$/]] as const) {
    const response = await t.request({ method: 'GET', url: `${projectHooks}?${query}` });
    assert.equal(response.status, 422, `${query}: ${response.text}`);
    assert.match(response.body.error, message);
  }
  const filtered = await t.request({ method: 'GET', url: `${projectHooks}?active=true&url_contains=127.0.0.1` });
  assert.equal(filtered.status, 200, filtered.text);
});
