// Conversations on the proxy: a number's list and item (`{pnid}/conversations[/{id}]`), the SDK's
// unscoped `conversations/{id}` read and status update, served from Parley's store. Data arrives
// through the signed Meta webhook; the effect of an update is read back through the Platform API.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestResponse } from '../helpers/app.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';
import { follow, inbound, minutesAgo, proxy, startWorld, type World } from './history-setup.ts';

const kapso = kapsoProxyChecksAlongside('Conversation answers');

const ALICE = '16505550201';
const BOB = '16505550202';
const DAN = '16505550203';

let w: World;
const conv = {} as Record<'alice' | 'bob' | 'dan' | 'aliceOnB' | 'theirs', string>;
const lastActive = {} as Record<'alice' | 'bob' | 'dan', Date>;

async function conversationOf(wamid: string): Promise<string> {
  const response = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(wamid)}` });
  assert.equal(response.status, 200, response.text);
  return response.body.data.kapso.whatsapp_conversation_id;
}

const platformConversation = async (id: string) => {
  const response = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations/${id}` });
  assert.equal(response.status, 200, response.text);
  return response.body.data;
};

const list = (query = '', pnid = w.a.phoneNumberId, key?: string) => proxy(w.t, `${pnid}/conversations${query ? `?${query}` : ''}`, { key });

function page(response: TestResponse): { ids: string[]; body: any } {
  assert.equal(response.status, 200, response.text);
  kapso.assertResponse('listConversations', 200, response.body);
  return { ids: response.body.data.map((c: { id: string }) => c.id), body: response.body };
}

const listIds = async (query: string) => page(await list(query)).ids;

function metaError(response: TestResponse, status: number, names?: string): any {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  assert.equal(typeof response.body.error.fbtrace_id, 'string');
  assert.equal(typeof response.body.error.code, 'number');
  if (names) assert.ok(response.body.error.message.includes(names), `"${response.body.error.message}" names ${names}`);
  kapso.assertComponent('Error', response.body);
  return response.body.error;
}

before(async () => {
  w = await startWorld();
  const start = Date.now();
  await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', at: minutesAgo(50, start) });
  lastActive.alice = minutesAgo(40, start);
  conv.alice = await conversationOf(await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', at: lastActive.alice }));
  lastActive.bob = minutesAgo(30, start);
  conv.bob = await conversationOf(await inbound(w.t, w.a, { waId: BOB, name: 'Bob', at: lastActive.bob }));
  lastActive.dan = minutesAgo(20, start);
  conv.dan = await conversationOf(await inbound(w.t, w.a, { waId: DAN, name: 'Dan', at: lastActive.dan }));
  conv.aliceOnB = await conversationOf(await inbound(w.t, w.b, { waId: ALICE, name: 'Alice' }));
  const theirs = await inbound(w.t, w.theirs, { waId: ALICE, name: 'Alice' });
  const response = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(theirs)}`, key: w.t.otherKey });
  conv.theirs = response.body.data.kapso.whatsapp_conversation_id;
});
after(async () => w.close());

describe('GET {pnid}/conversations', () => {
  test("lists the number's conversations by latest activity, as the Platform items plus whatsapp_config_id", async () => {
    assert.deepEqual(await listIds(''), [conv.dan, conv.bob, conv.alice]);
    assert.deepEqual(page(await list('', w.b.phoneNumberId)).ids, [conv.aliceOnB]);
    const { body } = page(await list(''));
    const alice = body.data[2];
    assert.equal(alice.whatsapp_config_id, w.a.internalId);
    const { whatsapp_config_id: _id, ...platformShape } = alice;
    assert.deepEqual(platformShape, await platformConversation(conv.alice));
    assert.equal(alice.phone_number, ALICE);
    assert.equal(alice.kapso.messages_count, 2);
    assert.equal(alice.kapso.contact_name, 'Alice');
    assert.equal(alice.last_active_at, lastActive.alice.toISOString().replace('Z', '000Z'));
  });

  test('pages by cursor both ways with absolute links', async () => {
    const first = page(await list('limit=1'));
    assert.deepEqual(first.ids, [conv.dan]);
    assert.equal(first.body.paging.previous, undefined);
    const second = page(await follow(w.t, first.body.paging.next));
    assert.deepEqual(second.ids, [conv.bob]);
    const third = page(await follow(w.t, second.body.paging.next));
    assert.deepEqual(third.ids, [conv.alice]);
    assert.equal(third.body.paging.next, undefined);
    assert.deepEqual(page(await follow(w.t, third.body.paging.previous)).ids, [conv.bob]);
    assert.deepEqual(page(await follow(w.t, second.body.paging.previous)).ids, [conv.dan]);
  });

  test('filters: last_active_since and last_active_until (inclusive), phone_number in any written form', async () => {
    assert.deepEqual(await listIds(`last_active_since=${lastActive.bob.toISOString()}`), [conv.dan, conv.bob]);
    assert.deepEqual(await listIds(`last_active_until=${lastActive.bob.toISOString()}`), [conv.bob, conv.alice]);
    assert.deepEqual(await listIds(`last_active_since=${lastActive.bob.toISOString()}&last_active_until=${lastActive.bob.toISOString()}`), [conv.bob]);
    for (const written of [BOB, `+${BOB}`, '+1 (650) 555-0202', '1 650 555 0202']) assert.deepEqual(await listIds(`phone_number=${encodeURIComponent(written)}`), [conv.bob], written);
    assert.deepEqual(await listIds(`phone_number=${encodeURIComponent('+1 650 555 0299')}`), []);
  });

  test('fields chooses the kapso block of each conversation', async () => {
    const none = page(await list('fields=kapso()')).body;
    for (const item of none.data) assert.equal('kapso' in item, false);
    const some = page(await list('fields=kapso(messages_count,last_message_type)')).body;
    assert.deepEqual(some.data[2].kapso, { messages_count: 2, last_message_type: 'text' });
  });

  test('bad query values are Meta-shaped 400s naming the parameter', async () => {
    for (const [query, names] of [
      ['status=open', 'status'],
      ['last_active_since=monday', 'last_active_since'],
      ['last_active_until=2026-13-01T00:00:00Z', 'last_active_until'],
      ['phone_number=call-me', 'phone_number'],
      ['limit=0', 'limit'],
      ['after=xyz', 'after'],
      ['fields=kapso(', 'fields'],
    ]) {
      const error = metaError(await list(query), 400, names);
      kapso.assertResponse('listConversations', 400, { error });
    }
  });
});

describe('GET {pnid}/conversations/{id} and conversations/{id}', () => {
  test('answers the bare conversation, the same as in the list', async () => {
    const listed = page(await list('')).body.data.find((c: { id: string }) => c.id === conv.bob);
    for (const path of [`${w.a.phoneNumberId}/conversations/${conv.bob}`, `conversations/${conv.bob}`, `conversations/${conv.bob.toUpperCase()}`]) {
      const response = await proxy(w.t, path);
      assert.equal(response.status, 200, response.text);
      kapso.assertResponse('getConversation', 200, response.body);
      assert.deepEqual(response.body, listed, path);
    }
    const unscoped = await proxy(w.t, `conversations/${conv.aliceOnB}?fields=kapso(contact_name)`);
    assert.equal(unscoped.body.phone_number_id, w.b.phoneNumberId);
    assert.equal(unscoped.body.whatsapp_config_id, w.b.internalId);
    assert.deepEqual(unscoped.body.kapso, { contact_name: 'Alice' });
  });

  test("another number's, another project's, or no conversation is a Meta-shaped 404", async () => {
    const cases: [string, string | undefined][] = [
      [`${w.a.phoneNumberId}/conversations/${conv.aliceOnB}`, undefined],
      [`${w.b.phoneNumberId}/conversations/${conv.bob}`, undefined],
      [`conversations/${conv.theirs}`, undefined],
      [`conversations/${conv.bob}`, w.t.otherKey],
      [`conversations/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, undefined],
      ['conversations/not-an-id', undefined],
    ];
    for (const [path, key] of cases) {
      const error = metaError(await proxy(w.t, path, { key }), 404);
      assert.equal(error.message, 'Conversation not found', path);
      kapso.assertResponse('getConversation', 404, { error });
    }
    const theirNumber = await proxy(w.t, `${w.theirs.phoneNumberId}/conversations/${conv.theirs}`);
    assert.equal(metaError(theirNumber, 404).message, 'Phone number not found');
  });
});

describe('PATCH conversations/{id}', () => {
  const patch = (path: string, body: unknown, key?: string) => proxy(w.t, path, { method: 'PATCH', body, key });

  test('ends and reopens a conversation; the Platform API sees it', async () => {
    const ended = await patch(`conversations/${conv.dan}`, { status: 'ended' });
    assert.equal(ended.status, 200, ended.text);
    assert.deepEqual(ended.body, { success: true });
    assert.match(String(ended.headers['content-type']), /application\/json/);
    assert.equal((await platformConversation(conv.dan)).status, 'ended');
    assert.deepEqual(await listIds('status=ended'), [conv.dan]);

    const reopened = await patch(`${w.a.phoneNumberId}/conversations/${conv.dan}`, { status: 'active' });
    assert.deepEqual(reopened.body, { success: true });
    assert.equal((await platformConversation(conv.dan)).status, 'active');
    assert.deepEqual(await listIds('status=ended'), []);
  });

  test('reopening while a newer conversation with the contact is active is a Meta-shaped 409', async () => {
    assert.deepEqual((await patch(`conversations/${conv.alice}`, { status: 'ended' })).body, { success: true });
    const newer = await conversationOf(await inbound(w.t, w.a, { waId: ALICE, name: 'Alice' }));
    assert.notEqual(newer, conv.alice);
    const error = metaError(await patch(`conversations/${conv.alice}`, { status: 'active' }), 409);
    assert.ok(error.message.includes(newer), error.message);
    assert.equal((await platformConversation(conv.alice)).status, 'ended');
  });

  test('a bad body is a 400 naming the problem, and changes nothing', async () => {
    for (const [body, names] of [
      [{ status: 'closed' }, 'status'],
      [{}, 'status'],
      [{ status: 'ended', reason: 'done' }, 'reason'],
      [{ status: 1 }, 'status'],
      [['ended'], 'JSON object'],
    ] as const) {
      metaError(await patch(`conversations/${conv.bob}`, body), 400, names);
    }
    const noBody = await w.t.request({ method: 'PATCH', url: `/meta/whatsapp/v23.0/conversations/${conv.bob}` });
    metaError(noBody, 400, 'JSON object');
    assert.equal((await platformConversation(conv.bob)).status, 'active');
  });

  test("another project's conversation, or another number's, is not found and unchanged", async () => {
    assert.equal(metaError(await patch(`conversations/${conv.bob}`, { status: 'ended' }, w.t.otherKey), 404).message, 'Conversation not found');
    assert.equal(metaError(await patch(`conversations/${conv.theirs}`, { status: 'ended' }), 404).message, 'Conversation not found');
    assert.equal(metaError(await patch(`${w.b.phoneNumberId}/conversations/${conv.bob}`, { status: 'ended' }), 404).message, 'Conversation not found');
    assert.equal((await platformConversation(conv.bob)).status, 'active');
    const theirs = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations/${conv.theirs}`, key: w.t.otherKey });
    assert.equal(theirs.body.data.status, 'active');
  });
});

test('other methods on these paths are refused here, not forwarded', async () => {
  for (const [method, path] of [
    ['POST', `${w.a.phoneNumberId}/conversations`],
    ['DELETE', `${w.a.phoneNumberId}/conversations/${conv.bob}`],
    ['DELETE', `conversations/${conv.bob}`],
    ['POST', `conversations/${conv.bob}`],
    ['GET', 'conversations'],
  ] as const) {
    const error = metaError(await proxy(w.t, path, { method, body: method === 'POST' ? {} : undefined }), 400);
    assert.match(error.message, /^Unsupported /, `${method} ${path}`);
  }
});

test('none of these calls reached Meta', () => {
  assert.deepEqual(w.meta.seen, []);
});
