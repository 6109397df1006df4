// Meta's webhook endpoint through the real app: the subscription check (GET) and signed
// deliveries (POST), which are stored exactly once or refused with nothing stored.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { startTestApp, TEST_META_VERIFY_TOKEN, type TestApp } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { fixture, META_WEBHOOK, postMeta, textBody } from '../helpers/meta.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());

async function storedBodies(app: TestApp = t): Promise<string[]> {
  const rows = await app.database.db.selectFrom('meta_events').select(['id', 'body', 'state']).orderBy('id').execute();
  for (const row of rows) assert.equal(row.state, 'pending', 'the endpoint only stores; the worker processes');
  return rows.map((r) => r.body);
}

async function clearEvents(app: TestApp = t): Promise<void> {
  await app.database.db.deleteFrom('meta_events').execute();
}

function verifyUrl(params: Record<string, string>): string {
  return `${META_WEBHOOK}?${new URLSearchParams(params).toString()}`;
}

test('GET with the right verify token answers the challenge as plain text', async () => {
  const response = await t.request({
    method: 'GET',
    key: null,
    url: verifyUrl({ 'hub.mode': 'subscribe', 'hub.verify_token': TEST_META_VERIFY_TOKEN, 'hub.challenge': '1158201444' }),
  });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.text, '1158201444', 'exactly the challenge, not JSON');
  assert.match(String(response.headers['content-type']), /^text\/plain/);
});

test('GET with a wrong token, a wrong mode or missing parameters is 403', async () => {
  const cases: Record<string, string>[] = [
    { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong-token', 'hub.challenge': '42' },
    { 'hub.mode': 'subscribe', 'hub.verify_token': `${TEST_META_VERIFY_TOKEN}x`, 'hub.challenge': '42' },
    { 'hub.mode': 'unsubscribe', 'hub.verify_token': TEST_META_VERIFY_TOKEN, 'hub.challenge': '42' },
    { 'hub.verify_token': TEST_META_VERIFY_TOKEN, 'hub.challenge': '42' },
    { 'hub.mode': 'subscribe', 'hub.challenge': '42' },
    { 'hub.mode': 'subscribe', 'hub.verify_token': TEST_META_VERIFY_TOKEN },
    {},
  ];
  for (const params of cases) {
    const response = await t.request({ method: 'GET', key: null, url: verifyUrl(params) });
    assert.equal(response.status, 403, `${JSON.stringify(params)}: ${response.text}`);
    assert.equal(typeof response.body.error, 'string');
    assert.ok(!response.text.includes('42'), 'the challenge is not echoed');
  }
});

test('GET is 403 when the server has no verify token configured', async (ctx) => {
  const database = await createTestDatabase();
  const other = await startTestApp({ database, metaVerifyToken: null });
  ctx.after(async () => {
    await other.close();
    await database.drop();
  });
  const response = await other.request({ method: 'GET', key: null, url: verifyUrl({ 'hub.mode': 'subscribe', 'hub.verify_token': '', 'hub.challenge': '1' }) });
  assert.equal(response.status, 403);
});

test('POST with a valid signature answers 200 and stores exactly the bytes received, once', async () => {
  await clearEvents();
  // Meta's bodies are not re-serialised by us: keep odd spacing and unicode as sent.
  const raw = JSON.stringify(fixture('text', { PHONE_NUMBER_ID: '106540352242922' }), null, 1).replace('Hi,', 'Hi ¿ 👋,');
  const response = await postMeta(t, raw);
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.body, { received: true });
  assert.deepEqual(await storedBodies(), [raw]);
});

test('POST with a missing, malformed or wrong signature is 401 and stores nothing', async () => {
  await clearEvents();
  const { body } = textBody('106540352242922', { waId: '16505550001' });
  const raw = JSON.stringify(body);
  const good = signBody(raw, 'test-app-secret');
  const cases: (string | null)[] = [
    null,
    '',
    'sha256=',
    good.slice(7), // no "sha256=" prefix
    `sha1=${good.slice(7, 47)}`,
    signBody(raw, 'another-secret'),
    signBody(`${raw} `, 'test-app-secret'), // signature of other bytes
    `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`, // one hex digit off
    `${good}00`,
  ];
  for (const signature of cases) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (signature !== null) headers['x-hub-signature-256'] = signature;
    const response = await t.request({ method: 'POST', url: META_WEBHOOK, key: null, rawBody: raw, headers });
    assert.equal(response.status, 401, `${String(signature)}: ${response.text}`);
    assert.equal(typeof response.body.error, 'string');
  }
  assert.deepEqual(await storedBodies(), []);
  // The same bytes with the right signature pass, so the refusals above were about the signature.
  assert.equal((await postMeta(t, raw)).status, 200);
  assert.equal((await storedBodies()).length, 1);
});

test('an uppercase hex signature is accepted', async () => {
  await clearEvents();
  const raw = JSON.stringify(textBody('106540352242922', { waId: '16505550002' }).body);
  const signature = `sha256=${signBody(raw, 'test-app-secret').slice(7).toUpperCase()}`;
  const response = await t.request({ method: 'POST', url: META_WEBHOOK, key: null, rawBody: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature } });
  assert.equal(response.status, 200, response.text);
  assert.equal((await storedBodies()).length, 1);
});

test('during secret rotation a body signed with either secret is accepted, any other refused', async (ctx) => {
  const database = await createTestDatabase();
  const rotating = await startTestApp({ database, metaAppSecrets: ['old-secret', 'new-secret'] });
  ctx.after(async () => {
    await rotating.close();
    await database.drop();
  });
  const oldBody = JSON.stringify(textBody('106540352242922', { waId: '16505550003', text: 'signed with the old secret' }).body);
  const newBody = JSON.stringify(textBody('106540352242922', { waId: '16505550004', text: 'signed with the new secret' }).body);
  assert.equal((await postMeta(rotating, oldBody, { secret: 'old-secret' })).status, 200);
  assert.equal((await postMeta(rotating, newBody, { secret: 'new-secret' })).status, 200);
  assert.equal((await postMeta(rotating, oldBody, { secret: 'test-app-secret' })).status, 401);
  assert.equal((await postMeta(rotating, oldBody, { secret: 'old-secretnew-secret' })).status, 401);
  assert.deepEqual(await storedBodies(rotating), [oldBody, newBody]);
});

test('a server without an app secret refuses deliveries (503) and stores nothing', async (ctx) => {
  const database = await createTestDatabase();
  const unconfigured = await startTestApp({ database, metaAppSecrets: [] });
  ctx.after(async () => {
    await unconfigured.close();
    await database.drop();
  });
  const response = await postMeta(unconfigured, textBody('106540352242922', { waId: '16505550005' }).body, { secret: '' });
  assert.equal(response.status, 503, response.text);
  assert.match(response.body.error, /PARLEY_META_APP_SECRET/, 'the answer names the setting');
  assert.deepEqual(await storedBodies(unconfigured), []);
});

test('a validly signed body that is not JSON is 400 and stores nothing', async () => {
  await clearEvents();
  for (const raw of ['{"object":"whatsapp_business_account",', 'not json at all', '', '{"text":"a raw \u0000 byte"}']) {
    const response = await postMeta(t, raw);
    assert.equal(response.status, 400, `${JSON.stringify(raw)}: ${response.text}`);
    assert.equal(typeof response.body.error, 'string');
    assert.ok(!/at .*\.ts/.test(response.text), 'no stack trace');
  }
  assert.deepEqual(await storedBodies(), []);
});

test('a body over 1 MiB is 413 and stores nothing; one of exactly 1 MiB is accepted', async () => {
  await clearEvents();
  const padding = (bytes: number) => {
    const base = JSON.stringify({ ...textBody('106540352242922', { waId: '16505550006' }).body, padding: '' });
    return base.replace('"padding":""', `"padding":"${'x'.repeat(bytes - base.length)}"`);
  };
  const tooLarge = padding(1024 * 1024 + 1);
  assert.equal(Buffer.byteLength(tooLarge), 1024 * 1024 + 1);
  const response = await postMeta(t, tooLarge);
  assert.equal(response.status, 413, response.text.slice(0, 200));
  assert.equal(typeof response.body.error, 'string');
  assert.deepEqual(await storedBodies(), []);

  const justFits = padding(1024 * 1024);
  assert.equal((await postMeta(t, justFits)).status, 200);
  assert.deepEqual(await storedBodies(), [justFits]);
});

test('the webhook needs no API key, and an API key does not replace the signature', async () => {
  await clearEvents();
  const raw = JSON.stringify(textBody('106540352242922', { waId: '16505550007' }).body);
  const response = await t.request({ method: 'POST', url: META_WEBHOOK, rawBody: raw, headers: { 'content-type': 'application/json' } });
  assert.equal(response.status, 401, 'an X-API-Key header is no signature');
  assert.deepEqual(await storedBodies(), []);
});
