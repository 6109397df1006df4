// GET/PATCH /whatsapp/conversations through the real app, on conversations that inbound Meta
// webhooks opened; answers are checked against Kapso's published schemas.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { ISO_MICROS } from '../helpers/contacts.ts';
import { connectNumber, decodeCursor, inboundText, minutesAgo } from '../helpers/inbound.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';

const BASE = '/platform/v1/whatsapp/conversations';
const LIST = 'listWhatsappConversations';
const GET = 'getWhatsappConversation';
const UPDATE = 'updateWhatsappConversation';
const UNKNOWN_ID = '9b2f3c1e-1111-4222-8333-944455556666';

const NUMBER_A = '1100000000001';
const NUMBER_B = '1100000000002';
const NUMBER_BETA = '2200000000001';
const ALICE = '15550001111';
const BOB = '15550002222';
const BSUID = 'US.13491208655302741918';

/** Kapso's schemas checked along the way; left out (and reported as skipped) without the document. */
const kapso = kapsoChecksAlongside('Conversation answers');

let t: TestApp;
/** Conversation ids by name, newest activity first: bsuid, aliceB, bob, aliceA. */
const ids = {} as Record<'aliceA' | 'bob' | 'aliceB' | 'bsuid' | 'beta', string>;

function ok(operationId: string, response: TestResponse, status = 200): any {
  assert.equal(response.status, status, response.text);
  kapso.assertResponse(operationId, status, response.body);
  return response.body;
}

function error(response: TestResponse, status: number, includes?: string): void {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  if (includes) assert.ok(response.body.error.includes(includes), `"${response.body.error}" names ${includes}`);
}

const list = (query = '', key?: string) => t.request({ method: 'GET', url: `${BASE}${query ? `?${query}` : ''}`, ...(key ? { key } : {}) });
const listIds = async (query: string, key?: string) => {
  const response = await list(query, key);
  return (ok(LIST, response).data as { id: string }[]).map((c) => c.id);
};
const patch = (id: string, body: unknown, key?: string) => t.request({ method: 'PATCH', url: `${BASE}/${id}`, body, ...(key ? { key } : {}) });

async function conversationOf(waId: string | null, phoneNumberId: string): Promise<string> {
  const row = await t.database.db
    .selectFrom('conversations as c')
    .innerJoin('contacts as k', 'k.id', 'c.contact_id')
    .select('c.id')
    .where('c.phone_number_id', '=', phoneNumberId)
    .where(waId === null ? 'k.business_scoped_user_id' : 'k.wa_id', '=', waId ?? BSUID)
    .orderBy('c.created_at', 'desc')
    .executeTakeFirstOrThrow();
  return row.id;
}

before(async () => {
  t = await startTestApp();
  await connectNumber(t, { phoneNumberId: NUMBER_A, displayPhoneNumber: '+1 555-010-0001' });
  await connectNumber(t, { phoneNumberId: NUMBER_B });
  await connectNumber(t, { phoneNumberId: NUMBER_BETA, key: t.otherKey });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: ALICE, name: 'Alice', text: 'first', timestamp: minutesAgo(50) });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: ALICE, name: 'Alice', text: 'second from Alice', timestamp: minutesAgo(45) });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: BOB, name: 'Bob', text: 'hello', timestamp: minutesAgo(40) });
  await inboundText(t, { phoneNumberId: NUMBER_B, from: ALICE, name: 'Alice', text: 'other line', timestamp: minutesAgo(30) });
  await inboundText(t, { phoneNumberId: NUMBER_A, bsuid: BSUID, name: 'Hidden', text: 'bsuid only', timestamp: minutesAgo(20) });
  await inboundText(t, { phoneNumberId: NUMBER_BETA, from: ALICE, name: 'Alice', text: 'beta', timestamp: minutesAgo(10) });
  ids.aliceA = await conversationOf(ALICE, NUMBER_A);
  ids.bob = await conversationOf(BOB, NUMBER_A);
  ids.aliceB = await conversationOf(ALICE, NUMBER_B);
  ids.bsuid = await conversationOf(null, NUMBER_A);
  ids.beta = await conversationOf(ALICE, NUMBER_BETA);
});
after(async () => t?.close());

describe('list', () => {
  test('latest activity first, each conversation in Kapso’s shape', async () => {
    const body = ok(LIST, await list());
    assert.deepEqual(
      body.data.map((c: { id: string }) => c.id),
      [ids.bsuid, ids.aliceB, ids.bob, ids.aliceA],
    );
    assert.deepEqual(body.paging, { cursors: body.paging.cursors, next: null, previous: null });
    for (const c of body.data) {
      assert.equal(c.status, 'active');
      assert.deepEqual(c.metadata, {});
      for (const field of ['last_active_at', 'created_at', 'updated_at']) assert.match(c[field], ISO_MICROS);
    }
  });

  test('the kapso block counts messages and previews the newest one', async () => {
    const aliceA = ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.aliceA}` })).data;
    assert.equal(aliceA.phone_number, ALICE);
    assert.equal(aliceA.phone_number_id, NUMBER_A);
    assert.equal(aliceA.business_scoped_user_id, null);
    assert.equal(aliceA.kapso.contact_name, 'Alice');
    assert.equal(aliceA.kapso.messages_count, 2);
    assert.equal(aliceA.kapso.last_message_type, 'text');
    assert.equal(aliceA.kapso.last_message_text, 'second from Alice');
    assert.match(aliceA.kapso.last_message_id, /^wamid\./);
    assert.match(aliceA.kapso.last_message_timestamp, ISO_MICROS);
    assert.equal(aliceA.kapso.last_inbound_at, aliceA.kapso.last_message_timestamp);
    assert.equal(aliceA.last_active_at, aliceA.kapso.last_message_timestamp);
    assert.ok(!('last_outbound_at' in aliceA.kapso), 'no outbound message yet: the key is left out, not null');
  });

  test('a contact known only by BSUID has a null phone number', async () => {
    const c = ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.bsuid}` })).data;
    assert.equal(c.phone_number, null);
    assert.equal(c.business_scoped_user_id, BSUID);
    assert.equal(c.kapso.contact_name, 'Hidden');
  });

  test('contact_name prefers the display name the app gave', async () => {
    const renamed = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/contacts/${BOB}`, body: { contact: { display_name: 'Robert (VIP)' } } });
    assert.equal(renamed.status, 200, renamed.text);
    const c = ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.bob}` })).data;
    assert.equal(c.kapso.contact_name, 'Robert (VIP)');
  });

  test('filters by phone_number_id and by part of the contact’s number', async () => {
    assert.deepEqual(await listIds(`phone_number_id=${NUMBER_B}`), [ids.aliceB]);
    assert.deepEqual(await listIds(`phone_number_id=${NUMBER_A}`), [ids.bsuid, ids.bob, ids.aliceA]);
    assert.deepEqual(await listIds('phone_number_id=999'), []);
    assert.deepEqual(await listIds('phone_number=0002222'), [ids.bob]);
    assert.deepEqual(await listIds(`phone_number=${encodeURIComponent('+1 555-000-1111')}`), [ids.aliceB, ids.aliceA]);
    assert.deepEqual(await listIds(`phone_number=${ALICE}&phone_number_id=${NUMBER_A}`), [ids.aliceA]);
    error(await list('phone_number=%25'), 422, 'phone_number');
  });

  test('filters by created and last activity instants', async () => {
    const all = ok(LIST, await list()).data as { id: string; created_at: string; last_active_at: string }[];
    const bob = all.find((c) => c.id === ids.bob)!;
    assert.deepEqual(await listIds(`last_active_after=${bob.last_active_at}`), [ids.bsuid, ids.aliceB]);
    assert.deepEqual(await listIds(`last_active_before=${bob.last_active_at}`), [ids.aliceA]);
    assert.deepEqual(await listIds(`created_after=${bob.created_at}`), [ids.bsuid, ids.aliceB]);
    assert.deepEqual(await listIds(`created_before=${bob.created_at}`), [ids.aliceA]);
    assert.deepEqual(await listIds(`created_after=${bob.created_at}&last_active_before=${all[0]!.last_active_at}`), [ids.aliceB]);
  });

  test('bad filter values are 422, bad pagination 400', async () => {
    for (const query of ['status=open', 'created_after=yesterday', 'last_active_before=2025-13-01', 'phone_number=abc', 'phone_number_id=%00']) {
      const response = await list(query);
      error(response, 422, query.split('=')[0]);
      kapso.assertResponse(LIST, 422, response.body);
    }
    for (const query of ['limit=0', 'limit=101', 'limit=x', 'after=not-a-cursor', 'before=e30=', `after=${encodeURIComponent('x')}&before=${encodeURIComponent('y')}`]) {
      error(await list(query), 400);
    }
  });

  test('pages forward with next and back with previous', async () => {
    const forward: string[] = [];
    let page = ok(LIST, await list('limit=1'));
    assert.equal(page.paging.previous, null);
    assert.deepEqual(decodeCursor(page.paging.cursors.after).columns, ['last_active_at', 'id']);
    assert.equal(decodeCursor(page.paging.cursors.after).values[0], page.data[0].last_active_at);
    forward.push(page.data[0].id);
    while (page.paging.next !== null) {
      page = ok(LIST, await list(`limit=1&after=${encodeURIComponent(page.paging.next)}`));
      assert.notEqual(page.paging.previous, null);
      forward.push(...page.data.map((c: { id: string }) => c.id));
    }
    assert.deepEqual(forward, [ids.bsuid, ids.aliceB, ids.bob, ids.aliceA]);

    const backward: string[] = [...page.data.map((c: { id: string }) => c.id)];
    while (page.paging.previous !== null) {
      page = ok(LIST, await list(`limit=1&before=${encodeURIComponent(page.paging.previous)}`));
      backward.unshift(...page.data.map((c: { id: string }) => c.id));
    }
    assert.deepEqual(backward, forward);

    const two = ok(LIST, await list('limit=2'));
    assert.equal(two.data.length, 2);
    const rest = ok(LIST, await list(`limit=2&after=${encodeURIComponent(two.paging.next)}`));
    assert.deepEqual(rest.data.map((c: { id: string }) => c.id), [ids.bob, ids.aliceA]);
    assert.equal(rest.paging.next, null);
    const back = ok(LIST, await list(`limit=2&before=${encodeURIComponent(rest.paging.previous)}`));
    assert.deepEqual(back.data.map((c: { id: string }) => c.id), [ids.bsuid, ids.aliceB]);
    assert.equal(back.paging.previous, null);
  });

  test('each project sees only its own conversations', async () => {
    assert.deepEqual(await listIds('', t.otherKey), [ids.beta]);
    assert.ok(!(await listIds('')).includes(ids.beta));
    assert.deepEqual(await listIds(`phone_number_id=${NUMBER_A}`, t.otherKey), []);
  });
});

describe('get', () => {
  test('unknown, malformed and other-project ids are 404 Conversation not found', async () => {
    for (const [id, key] of [[UNKNOWN_ID, undefined], ['not-a-uuid', undefined], [ids.beta, undefined], [ids.aliceA, t.otherKey]] as const) {
      const response = await t.request({ method: 'GET', url: `${BASE}/${id}`, ...(key ? { key } : {}) });
      error(response, 404);
      assert.equal(response.body.error, 'Conversation not found');
      kapso.assertResponse(GET, 404, response.body);
    }
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.aliceA.toUpperCase()}` })).data.id, ids.aliceA);
  });

  test('without a key: 401', async () => {
    error(await t.request({ method: 'GET', url: BASE, key: null }), 401);
    error(await t.request({ method: 'GET', url: `${BASE}/${ids.aliceA}`, key: null }), 401);
    error(await t.request({ method: 'PATCH', url: `${BASE}/${ids.aliceA}`, key: null, body: { whatsapp_conversation: { status: 'ended' } } }), 401);
    error(await t.request({ method: 'GET', url: BASE, key: 'pk_not_a_real_key' }), 401);
  });
});

describe('patch', () => {
  test('ending, a new conversation, 409 on reopening, then reopening once the other ended', async () => {
    const before = ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.bob}` })).data;
    const ended = ok(UPDATE, await patch(ids.bob, { whatsapp_conversation: { status: 'ended' } })).data;
    assert.equal(ended.status, 'ended');
    assert.ok(ended.updated_at > before.updated_at, 'updated_at moves');
    assert.equal(ended.last_active_at, before.last_active_at, 'ending is not activity');
    const endedAt = (await t.database.db.selectFrom('conversations').select('ended_at').where('id', '=', ids.bob).executeTakeFirstOrThrow()).ended_at;
    assert.notEqual(endedAt, null, 'ended_at is set');
    assert.deepEqual(await listIds('status=ended'), [ids.bob]);
    assert.ok(!(await listIds('status=active')).includes(ids.bob));

    const again = ok(UPDATE, await patch(ids.bob, { whatsapp_conversation: { status: 'ended' } })).data;
    assert.equal(again.updated_at, ended.updated_at, 'ending an ended conversation changes nothing');

    await inboundText(t, { phoneNumberId: NUMBER_A, from: BOB, name: 'Bob', text: 'back again', timestamp: minutesAgo(5) });
    const fresh = await conversationOf(BOB, NUMBER_A);
    assert.notEqual(fresh, ids.bob, 'a message after the end opens a new conversation');
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${fresh}` })).data.kapso.messages_count, 1);

    const refused = await patch(ids.bob, { whatsapp_conversation: { status: 'active' } });
    error(refused, 409, fresh);
    assert.match(refused.body.error, /active/);
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.bob}` })).data.status, 'ended', 'the refused reopen changed nothing');

    ok(UPDATE, await patch(fresh, { whatsapp_conversation: { status: 'ended' } }));
    const reopened = ok(UPDATE, await patch(ids.bob, { whatsapp_conversation: { status: 'active' } })).data;
    assert.equal(reopened.status, 'active');
    assert.ok(reopened.last_active_at > before.last_active_at, 'reopening counts as activity');
    assert.equal((await t.database.db.selectFrom('conversations').select('ended_at').where('id', '=', ids.bob).executeTakeFirstOrThrow()).ended_at, null);
    assert.equal((await listIds('limit=1'))[0], ids.bob, 'the reopened conversation is now the most recently active');
  });

  test('bad bodies are 422 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ whatsapp_conversation: { status: 'closed' } }, 'status'],
      [{ whatsapp_conversation: { status: 'ended', metadata: {} } }, 'metadata'],
      [{ whatsapp_conversation: {} }, 'status'],
      [{ status: 'ended' }, 'whatsapp_conversation'],
      [{ whatsapp_conversation: { status: 'ended' }, extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const response = await patch(ids.aliceA, body);
      error(response, 422, field);
      kapso.assertResponse(UPDATE, 422, response.body);
    }
    error(await t.request({ method: 'PATCH', url: `${BASE}/${ids.aliceA}`, rawBody: '{"whatsapp_conversation":', headers: { 'content-type': 'application/json' } }), 400);
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.aliceA}` })).data.status, 'active');
  });

  test('unknown, malformed and other-project conversations are 404', async () => {
    for (const [id, key] of [[UNKNOWN_ID, undefined], ['nope', undefined], [ids.beta, undefined], [ids.aliceA, t.otherKey]] as const) {
      const response = await patch(id, { whatsapp_conversation: { status: 'ended' } }, key);
      error(response, 404);
      assert.equal(response.body.error, 'Conversation not found');
      kapso.assertResponse(UPDATE, 404, response.body);
    }
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.beta}`, key: t.otherKey })).data.status, 'active', 'the other project’s conversation is untouched');
    assert.equal(ok(GET, await t.request({ method: 'GET', url: `${BASE}/${ids.aliceA}` })).data.status, 'active');
  });
});
