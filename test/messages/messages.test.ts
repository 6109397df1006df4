// GET /whatsapp/messages through the real app, on messages that signed Meta webhooks delivered;
// answers are checked against Kapso's published schemas.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { connectNumber, decodeCursor, drain, inboundText, messagesChange, minutesAgo, postWebhook } from '../helpers/inbound.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';

const BASE = '/platform/v1/whatsapp/messages';
const LIST = 'listWhatsappMessages';
const GET = 'getWhatsappMessage';

const NUMBER_A = '3300000000001';
const NUMBER_B = '3300000000002';
const NUMBER_BETA = '4400000000001';
const ALICE = '15550003333';
const BOB = '15550004444';
const CAROL = '15550005555';
const CAROL_NEW = '15550006666';
const BSUID = 'US.88812208655302741918';

/** Kapso's schemas checked along the way; left out (and reported as skipped) without the document. */
const kapso = kapsoChecksAlongside('Message answers');

let t: TestApp;
/** wamids by name, in the order they were stored. */
const m = {} as Record<'text' | 'image' | 'reply' | 'lineB' | 'bsuid' | 'system' | 'beta', string>;
const stamps = {} as Record<'text' | 'image', string>;

function ok(operationId: string, response: TestResponse): any {
  assert.equal(response.status, 200, response.text);
  kapso.assertResponse(operationId, 200, response.body);
  return response.body;
}

function error(response: TestResponse, status: number, includes?: string): void {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  if (includes) assert.ok(response.body.error.includes(includes), `"${response.body.error}" names ${includes}`);
}

const list = (query = '', key?: string) => t.request({ method: 'GET', url: `${BASE}${query ? `?${query}` : ''}`, ...(key ? { key } : {}) });
const listIds = async (query: string, key?: string) => (ok(LIST, await list(query, key)).data as { id: string }[]).map((x) => x.id);
const get = (wamid: string, key?: string) => t.request({ method: 'GET', url: `${BASE}/${encodeURIComponent(wamid)}`, ...(key ? { key } : {}) });

async function inbound(phoneNumberId: string, contact: Record<string, unknown>, message: Record<string, unknown>): Promise<string> {
  await postWebhook(t, messagesChange(phoneNumberId, { contacts: [contact], messages: [message] }));
  await drain(t);
  return String(message.id);
}

before(async () => {
  t = await startTestApp();
  await connectNumber(t, { phoneNumberId: NUMBER_A, displayPhoneNumber: '+1 555-010-0003' });
  await connectNumber(t, { phoneNumberId: NUMBER_B });
  await connectNumber(t, { phoneNumberId: NUMBER_BETA, key: t.otherKey });
  stamps.text = String(minutesAgo(50));
  m.text = await inboundText(t, { phoneNumberId: NUMBER_A, from: ALICE, name: 'Alice', text: 'hi there', timestamp: Number(stamps.text) });
  stamps.image = String(minutesAgo(45));
  m.image = await inbound(
    NUMBER_A,
    { profile: { name: 'Alice' }, wa_id: ALICE },
    {
      from: ALICE,
      id: 'wamid.image-1',
      timestamp: stamps.image,
      type: 'image',
      image: { id: 'media-1', mime_type: 'image/jpeg', sha256: 'c2hhMjU2', caption: 'a cat' },
      referral: { source_url: 'https://example.test/ad', source_type: 'ad' },
    },
  );
  m.reply = await inbound(
    NUMBER_A,
    { profile: { name: 'Bob', username: '@bobby' }, wa_id: BOB },
    { from: BOB, id: 'wamid.reply-1', timestamp: String(minutesAgo(40)), type: 'text', text: { body: 'replying' }, context: { from: '15550100003', id: m.text } },
  );
  m.lineB = await inboundText(t, { phoneNumberId: NUMBER_B, from: ALICE, name: 'Alice', text: 'other line', timestamp: minutesAgo(30) });
  m.bsuid = await inboundText(t, { phoneNumberId: NUMBER_A, bsuid: BSUID, name: 'Hidden', text: 'no number', timestamp: minutesAgo(20) });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: CAROL, name: 'Carol', text: 'before the change', timestamp: minutesAgo(16) });
  m.system = await inbound(
    NUMBER_A,
    { profile: { name: 'Carol' }, wa_id: CAROL },
    { from: CAROL, id: 'wamid.system-1', timestamp: String(minutesAgo(15)), type: 'system', system: { body: 'Carol changed number', type: 'user_changed_number', wa_id: CAROL_NEW } },
  );
  m.beta = await inboundText(t, { phoneNumberId: NUMBER_BETA, from: ALICE, name: 'Alice', text: 'beta', timestamp: minutesAgo(10) });
  await postWebhook(t, messagesChange(NUMBER_A, { statuses: [{ id: m.text, status: 'read', timestamp: String(minutesAgo(9)), recipient_id: ALICE }] }));
  await drain(t);
});
after(async () => t?.close());

describe('one message', () => {
  test('a text message: Meta’s fields, to, username and the kapso block', async () => {
    const message = ok(GET, await get(m.text)).data;
    assert.equal(message.id, m.text);
    assert.equal(message.timestamp, stamps.text);
    assert.equal(message.type, 'text');
    assert.equal(message.from, ALICE);
    assert.deepEqual(message.text, { body: 'hi there' });
    assert.equal(message.to, '15550100003', 'the business number as digits');
    assert.equal(message.username, null);
    const conversation = await t.database.db.selectFrom('messages').select('conversation_id').where('wamid', '=', m.text).executeTakeFirstOrThrow();
    assert.deepEqual(message.kapso, {
      direction: 'inbound',
      status: 'read',
      whatsapp_conversation_id: conversation.conversation_id,
      origin: 'cloud_api',
      phone_number: ALICE,
      phone_number_id: NUMBER_A,
      has_media: false,
      contact_name: 'Alice',
      content: 'hi there',
      statuses: [{ id: m.text, status: 'read', timestamp: message.kapso.statuses[0].timestamp, recipient_id: ALICE }],
    });
  });

  test('per-type payloads and unknown Meta keys pass through; timestamp stays a string', async () => {
    const image = ok(GET, await get(m.image)).data;
    assert.equal(image.timestamp, stamps.image);
    assert.equal(typeof image.timestamp, 'string');
    assert.deepEqual(image.image, { id: 'media-1', mime_type: 'image/jpeg', sha256: 'c2hhMjU2', caption: 'a cat' });
    assert.deepEqual(image.referral, { source_url: 'https://example.test/ad', source_type: 'ad' });
    assert.equal(image.kapso.has_media, true);
    assert.equal(image.kapso.content, 'a cat');
    assert.equal(image.kapso.status, 'delivered');
    assert.deepEqual(image.kapso.statuses, []);

    const reply = ok(GET, await get(m.reply)).data;
    assert.deepEqual(reply.context, { from: '15550100003', id: m.text });
    assert.equal(reply.username, '@bobby');
    assert.equal(reply.kapso.contact_name, 'Bob');
  });

  test('to falls back to Meta’s id of a number whose display form is unknown', async () => {
    assert.equal(ok(GET, await get(m.lineB)).data.to, NUMBER_B);
  });

  test('a sender known only by BSUID: from and phone_number are null', async () => {
    const message = ok(GET, await get(m.bsuid)).data;
    assert.equal(message.from, null);
    assert.equal(message.from_user_id, BSUID);
    assert.equal(message.kapso.phone_number, null);
    assert.equal(message.kapso.contact_name, 'Hidden');
  });

  test('system messages are stored but not served', async () => {
    const stored = await t.database.db.selectFrom('messages').select('type').where('wamid', '=', m.system).executeTakeFirst();
    assert.equal(stored?.type, 'system');
    error(await get(m.system), 404);
    assert.ok(!(await listIds('limit=100')).includes(m.system));
    assert.deepEqual(await listIds('message_type=system'), []);
  });

  test('unknown and other-project messages are 404 Message not found', async () => {
    for (const [wamid, key] of [['wamid.unknown', undefined], [m.beta, undefined], [m.text, t.otherKey]] as const) {
      const response = await get(wamid, key);
      error(response, 404);
      assert.equal(response.body.error, 'Message not found');
      kapso.assertResponse(GET, 404, response.body);
    }
    assert.equal(ok(GET, await get(m.beta, t.otherKey)).data.id, m.beta);
  });

  test('without a key: 401', async () => {
    error(await t.request({ method: 'GET', url: BASE, key: null }), 401);
    error(await t.request({ method: 'GET', url: `${BASE}/${m.text}`, key: null }), 401);
  });
});

describe('list', () => {
  const CAROL_TEXT = 1; // Carol's text before her change of number is listed too

  test('newest first, every message in Kapso’s shape, system messages left out', async () => {
    const ids = await listIds('');
    assert.equal(ids.length, 5 + CAROL_TEXT);
    assert.deepEqual(ids.filter((id) => id !== ids[0]), [m.bsuid, m.lineB, m.reply, m.image, m.text]);
  });

  test('filters', async () => {
    const [aliceA] = await t.database.db.selectFrom('messages').select('conversation_id').where('wamid', '=', m.text).execute();
    const cases: [string, string[]][] = [
      [`phone_number_id=${NUMBER_B}`, [m.lineB]],
      [`conversation_id=${aliceA!.conversation_id}`, [m.image, m.text]],
      [`conversation_id=${aliceA!.conversation_id.toUpperCase()}`, [m.image, m.text]],
      ['phone_number=0004444', [m.reply]],
      [`phone_number=${encodeURIComponent('+1 555-000-3333')}`, [m.lineB, m.image, m.text]],
      [`phone_number=${ALICE}&phone_number_id=${NUMBER_A}`, [m.image, m.text]],
      [`business_scoped_user_id=${BSUID}`, [m.bsuid]],
      ['business_scoped_user_id=US.nobody', []],
      ['direction=outbound', []],
      ['status=read', [m.text]],
      ['status=failed', []],
      ['message_type=image', [m.image]],
      ['has_media=true', [m.image]],
      ['has_media=true&message_type=text', []],
    ];
    for (const [query, expected] of cases) assert.deepEqual(await listIds(query), expected, query);
    assert.equal((await listIds('direction=inbound')).length, 5 + CAROL_TEXT);
    assert.deepEqual((await listIds('has_media=false&phone_number_id=' + NUMBER_A)).filter((id) => id !== m.image).length, 3 + CAROL_TEXT);
    assert.ok(!(await listIds('has_media=false')).includes(m.image));
    assert.deepEqual((await listIds('status=delivered')).includes(m.text), false);
  });

  test('bad filter values are 422, bad pagination 400', async () => {
    for (const query of ['conversation_id=nope', 'direction=sideways', 'status=seen', 'has_media=maybe', 'phone_number=abc', 'message_type=%00']) {
      error(await list(query), 422, query.split('=')[0]);
    }
    for (const query of ['limit=0', 'limit=101', 'after=%%%', 'before=bm9wZQ==', 'after=a&before=b']) error(await list(query), 400);
  });

  test('pages forward with next and back with previous', async () => {
    const all = await listIds('');
    let page = ok(LIST, await list('limit=2'));
    assert.deepEqual(decodeCursor(page.paging.cursors.after).columns, ['created_at', 'id']);
    assert.equal(page.paging.previous, null);
    const forward = page.data.map((x: { id: string }) => x.id);
    while (page.paging.next !== null) {
      page = ok(LIST, await list(`limit=2&after=${encodeURIComponent(page.paging.next)}`));
      forward.push(...page.data.map((x: { id: string }) => x.id));
    }
    assert.deepEqual(forward, all);
    const backward = page.data.map((x: { id: string }) => x.id);
    while (page.paging.previous !== null) {
      page = ok(LIST, await list(`limit=2&before=${encodeURIComponent(page.paging.previous)}`));
      backward.unshift(...page.data.map((x: { id: string }) => x.id));
    }
    assert.deepEqual(backward, all);
  });

  test('each project sees only its own messages', async () => {
    assert.deepEqual(await listIds('', t.otherKey), [m.beta]);
    assert.ok(!(await listIds('limit=100')).includes(m.beta));
    assert.deepEqual(await listIds(`phone_number_id=${NUMBER_A}`, t.otherKey), []);
  });

  test('an erased contact’s messages disappear at once', async () => {
    const erased = await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/contacts/${BOB}` });
    assert.equal(erased.status, 204, erased.text);
    error(await get(m.reply), 404);
    assert.deepEqual(await listIds('phone_number=0004444'), []);
  });
});
