// A number's message history on the proxy (`GET {pnid}/messages[/{wamid}]`) and its call history,
// served from Parley's store: scoping by the path's number, each filter, Meta paging both ways,
// `fields=kapso(…)`, Meta-shaped refusals, tenant isolation, and never a call to Meta. Every
// answer is checked against Kapso's proxy document.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestResponse } from '../helpers/app.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';
import { follow, inbound, minutesAgo, outbound, proxy, PUBLIC_URL, startWorld, type World } from './history-setup.ts';

const kapso = kapsoProxyChecksAlongside('Message and call history answers');

const ALICE = '16505550101';
const BOB = '16505550102';

let w: World;
/** wamids, oldest first as stored on number A. */
const ids = {} as Record<'a1' | 'a2' | 'a3' | 'b1' | 'b2' | 'out' | 'onB' | 'theirs', string>;
const at = {} as Record<'a1' | 'a2' | 'a3' | 'b1' | 'b2', Date>;
/** Newest first, as lists answer. */
let numberA: string[];

const messages = (query = '', pnid = w.a.phoneNumberId, key?: string) => proxy(w.t, `${pnid}/messages${query ? `?${query}` : ''}`, { key });

function page(response: TestResponse): { ids: string[]; body: any } {
  assert.equal(response.status, 200, response.text);
  assert.match(String(response.headers['content-type']), /application\/json/);
  kapso.assertResponse('listMessages', 200, response.body);
  return { ids: response.body.data.map((m: { id: string }) => m.id), body: response.body };
}

const listIds = async (query: string) => page(await messages(query)).ids;

function metaError(response: TestResponse, status: number, operationId: string, names?: string): any {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  assert.equal(typeof response.body.error.fbtrace_id, 'string');
  if (names) assert.ok(response.body.error.message.includes(names), `"${response.body.error.message}" names ${names}`);
  kapso.assertResponse(operationId, status, response.body);
  return response.body.error;
}

before(async () => {
  w = await startWorld();
  const start = Date.now();
  at.a1 = minutesAgo(50, start);
  at.a2 = minutesAgo(40, start);
  at.a3 = minutesAgo(30, start);
  at.b1 = minutesAgo(20, start);
  at.b2 = minutesAgo(10, start);
  ids.a1 = await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', text: 'first', at: at.a1 });
  ids.a2 = await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', text: 'second', at: at.a2 });
  ids.a3 = await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', text: 'third', at: at.a3 });
  ids.b1 = await inbound(w.t, w.a, { waId: BOB, name: 'Bob', text: 'bob one', at: at.b1 });
  ids.b2 = await inbound(w.t, w.a, { waId: BOB, name: 'Bob', text: 'bob two', at: at.b2 });
  ids.out = await outbound(w.t, w.a, ids.b2, 'hello Bob', 'read');
  ids.onB = await inbound(w.t, w.b, { waId: ALICE, name: 'Alice', text: 'on the other line' });
  ids.theirs = await inbound(w.t, w.theirs, { waId: ALICE, name: 'Alice', text: 'other project' });
  numberA = [ids.out, ids.b2, ids.b1, ids.a3, ids.a2, ids.a1];
});
after(async () => w.close());

describe('GET {pnid}/messages', () => {
  test("lists the number's messages only, newest first, as Parley's Platform items", async () => {
    assert.deepEqual(await listIds(''), numberA);
    assert.deepEqual(page(await messages('', w.b.phoneNumberId)).ids, [ids.onB]);

    const { body } = page(await messages('limit=100'));
    const first = body.data.find((m: { id: string }) => m.id === ids.a1);
    assert.equal(first.type, 'text');
    assert.equal(first.from, ALICE);
    assert.deepEqual(first.text, { body: 'first' });
    assert.equal(first.timestamp, String(at.a1.getTime() / 1000));
    assert.equal(first.kapso.direction, 'inbound');
    assert.equal(first.kapso.status, 'delivered');
    assert.equal(first.kapso.phone_number, ALICE);
    assert.equal(first.kapso.contact_name, 'Alice');
    assert.equal(first.kapso.content, 'first');
    assert.equal(first.kapso.phone_number_id, w.a.phoneNumberId);

    // The same item the Platform API serves.
    const platform = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(ids.a1)}` });
    assert.equal(platform.status, 200);
    assert.deepEqual(first, platform.body.data);
  });

  test('pages by cursor both ways, with absolute next/previous links that keep the query', async () => {
    const first = page(await messages('limit=2&direction=inbound&fields=kapso(status)'));
    const inboundOnly = numberA.slice(1);
    assert.deepEqual(first.ids, inboundOnly.slice(0, 2));
    assert.equal(first.body.paging.previous, undefined);
    assert.equal(typeof first.body.paging.cursors.before, 'string');
    assert.equal(typeof first.body.paging.cursors.after, 'string');
    const next = new URL(first.body.paging.next);
    assert.equal(next.origin, PUBLIC_URL);
    assert.equal(next.pathname, `/meta/whatsapp/v23.0/${w.a.phoneNumberId}/messages`);
    assert.equal(next.searchParams.get('limit'), '2');
    assert.equal(next.searchParams.get('direction'), 'inbound');
    assert.equal(next.searchParams.get('fields'), 'kapso(status)');
    assert.equal(next.searchParams.get('after'), first.body.paging.cursors.after);
    assert.equal(next.searchParams.get('before'), null);

    const second = page(await follow(w.t, first.body.paging.next));
    assert.deepEqual(second.ids, inboundOnly.slice(2, 4));
    assert.deepEqual(Object.keys(second.body.data[0].kapso), ['status'], 'the link keeps fields');
    const third = page(await follow(w.t, second.body.paging.next));
    assert.deepEqual(third.ids, inboundOnly.slice(4));
    assert.equal(third.body.paging.next, undefined, 'the last page has no next link');

    const back = page(await follow(w.t, third.body.paging.previous));
    assert.deepEqual(back.ids, second.ids);
    assert.equal(new URL(third.body.paging.previous).searchParams.get('after'), null);
    const start = page(await follow(w.t, back.body.paging.previous));
    assert.deepEqual(start.ids, first.ids);
    assert.equal(start.body.paging.previous, undefined, 'the first page has no previous link');
    assert.equal(typeof start.body.paging.next, 'string');
  });

  test('an empty page has empty cursors and no links', async () => {
    const { body } = page(await messages('status=failed'));
    assert.deepEqual(body, { data: [], paging: { cursors: {} } });
  });

  test('filters: conversation_id, direction, status', async () => {
    const { body } = page(await messages('limit=100'));
    const aliceConversation = body.data.find((m: { id: string }) => m.id === ids.a1).kapso.whatsapp_conversation_id;
    const bobConversation = body.data.find((m: { id: string }) => m.id === ids.b1).kapso.whatsapp_conversation_id;
    assert.notEqual(aliceConversation, bobConversation);
    assert.deepEqual(await listIds(`conversation_id=${aliceConversation}`), [ids.a3, ids.a2, ids.a1]);
    assert.deepEqual(await listIds(`conversation_id=${bobConversation.toUpperCase()}`), [ids.out, ids.b2, ids.b1]);
    // A conversation of another number of the project is not this number's.
    const onB = page(await messages('', w.b.phoneNumberId)).body.data[0].kapso.whatsapp_conversation_id;
    assert.deepEqual(await listIds(`conversation_id=${onB}`), []);

    assert.deepEqual(await listIds('direction=inbound'), numberA.slice(1));
    assert.deepEqual(await listIds('direction=outbound'), [ids.out]);
    assert.deepEqual(await listIds('status=read'), [ids.out], "the outbound message moved to read on Meta's status webhook");
    assert.deepEqual(await listIds('status=delivered'), numberA.slice(1));
    assert.deepEqual(await listIds('direction=outbound&status=delivered'), []);
  });

  test("filters: since and until bound the message's time, both inclusive", async () => {
    const iso = (date: Date) => date.toISOString();
    assert.deepEqual(await listIds(`since=${iso(at.a3)}`), [ids.out, ids.b2, ids.b1, ids.a3]);
    assert.deepEqual(await listIds(`until=${iso(at.a2)}`), [ids.a2, ids.a1]);
    assert.deepEqual(await listIds(`since=${iso(at.a2)}&until=${iso(at.b1)}`), [ids.b1, ids.a3, ids.a2]);
    // Other offsets name the same instant.
    const offset = `${iso(new Date(at.a3.getTime() + 3_600_000)).slice(0, 19)}%2B01:00`;
    assert.deepEqual(await listIds(`since=${offset}&until=${offset}`), [ids.a3]);
  });

  test('keys the list does not know are ignored', async () => {
    assert.deepEqual(await listIds('foo=bar&phone_number_id=123&limit=3'), numberA.slice(0, 3));
  });

  test('bad query values are Meta-shaped 400s that name the parameter', async () => {
    const cases: [string, string][] = [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=many', 'limit'],
      ['after=bm90IGEgY3Vyc29y', 'after'],
      ['before=%%%', 'before'],
      ['since=yesterday', 'since'],
      ['until=2026-02-30T00:00:00Z', 'until'],
      ['direction=sideways', 'direction'],
      ['status=lost', 'status'],
      ['conversation_id=not-a-uuid', 'conversation_id'],
      ['direction=inbound&direction=outbound', 'direction'],
    ];
    for (const [query, names] of cases) {
      const error = metaError(await messages(query), 400, 'listMessages', names);
      assert.equal(error.code, 100, query);
      assert.equal(error.type, 'OAuthException', query);
    }
    const first = page(await messages('limit=1')).body;
    metaError(await messages(`after=${encodeURIComponent(first.paging.cursors.after)}&before=${encodeURIComponent(first.paging.cursors.before)}`), 400, 'listMessages', 'before');
  });
});

describe('GET {pnid}/messages/{wamid}', () => {
  test('answers the bare item, the same as in the list', async () => {
    const response = await proxy(w.t, `${w.a.phoneNumberId}/messages/${encodeURIComponent(ids.b2)}`);
    assert.equal(response.status, 200, response.text);
    kapso.assertResponse('getMessage', 200, response.body);
    const listed = page(await messages('limit=100')).body.data.find((m: { id: string }) => m.id === ids.b2);
    assert.deepEqual(response.body, listed);
    assert.equal(response.body.data, undefined);

    const sent = await proxy(w.t, `${w.a.phoneNumberId}/messages/${encodeURIComponent(ids.out)}`);
    assert.equal(sent.body.kapso.direction, 'outbound');
    assert.equal(sent.body.kapso.status, 'read');
    assert.equal(sent.body.to, BOB);
    kapso.assertResponse('getMessage', 200, sent.body);
  });

  test("an unknown wamid, or another number's message, is Kapso's MessageError 404", async () => {
    for (const [pnid, id] of [
      [w.a.phoneNumberId, 'wamid.unknown'],
      [w.a.phoneNumberId, ids.onB],
      [w.b.phoneNumberId, ids.a1],
      [w.a.phoneNumberId, ids.theirs],
    ] as const) {
      const error = metaError(await proxy(w.t, `${pnid}/messages/${encodeURIComponent(id)}`), 404, 'getMessage');
      assert.deepEqual({ ...error, fbtrace_id: undefined }, { message: 'Message not found', type: 'MessageError', code: 404, fbtrace_id: undefined });
    }
  });
});

describe('fields', () => {
  const itemOf = async (fields: string | null) => {
    const query = fields === null ? '' : `?fields=${encodeURIComponent(fields)}`;
    const response = await proxy(w.t, `${w.a.phoneNumberId}/messages/${encodeURIComponent(ids.a1)}${query}`);
    assert.equal(response.status, 200, response.text);
    kapso.assertResponse('getMessage', 200, response.body);
    return response.body;
  };

  test('absent, kapso and kapso(default) give the whole kapso block; Meta field names leave the item as is', async () => {
    const whole = await itemOf(null);
    assert.deepEqual(Object.keys(whole.kapso).sort(), ['contact_name', 'content', 'direction', 'has_media', 'origin', 'phone_number', 'phone_number_id', 'status', 'statuses', 'whatsapp_conversation_id']);
    for (const fields of ['kapso(default)', 'kapso', 'id,type,text{body},timestamp', '', 'kapso(direction),kapso(default)']) assert.deepEqual(await itemOf(fields), whole, fields);
  });

  test('kapso() leaves the block out; kapso(a,b) keeps only those keys', async () => {
    const whole = await itemOf(null);
    const { kapso: _block, ...meta } = whole;
    assert.deepEqual(await itemOf('kapso()'), meta);
    assert.deepEqual(await itemOf('id,kapso( )'), meta);
    assert.deepEqual(await itemOf('kapso(direction,status)'), { ...meta, kapso: { direction: 'inbound', status: 'delivered' } });
    assert.deepEqual(await itemOf('id, type, kapso(content, processing_status)'), { ...meta, kapso: { content: 'first' } });
    assert.deepEqual(await itemOf('kapso(direction),kapso(contact_name)'), { ...meta, kapso: { direction: 'inbound', contact_name: 'Alice' } });
    // What the SDK's buildKapsoFields() asks for: the keys Parley has of that list.
    const sdkDefault = 'kapso(direction,status,processing_status,phone_number,has_media,media_data,media_url,whatsapp_conversation_id,contact_name,message_type_data,content,flow_response,flow_token,flow_name,order_text)';
    const { origin: _o, phone_number_id: _p, statuses: _s, ...sdkKeys } = whole.kapso;
    assert.deepEqual(await itemOf(sdkDefault), { ...meta, kapso: sdkKeys });
  });

  test('applies to every item of a list', async () => {
    const { body } = page(await messages('fields=kapso(direction)'));
    assert.equal(body.data.length, numberA.length);
    for (const item of body.data) assert.deepEqual(Object.keys(item.kapso), ['direction']);
    const none = page(await messages('fields=kapso()')).body;
    for (const item of none.data) assert.equal('kapso' in item, false);
  });

  test('a malformed fields is a 400 naming it', async () => {
    for (const fields of ['kapso(direction', 'kapso)', 'kapso(direction))', 'kapso(dir ection)', 'kapso[status]', 'kapso(status(x))', 'id,,type', ',', 'id type', '(kapso)', 'kapso(default']) {
      metaError(await messages(`fields=${encodeURIComponent(fields)}`), 400, 'listMessages', 'fields');
      const single = await proxy(w.t, `${w.a.phoneNumberId}/messages/${encodeURIComponent(ids.a1)}?fields=${encodeURIComponent(fields)}`);
      assert.equal(single.status, 400, fields);
      assert.match(single.body.error.message, /fields/);
    }
  });
});

describe('GET {pnid}/calls', () => {
  test('Parley has no calls: an empty page in Kapso shape', async () => {
    const response = await proxy(w.t, `${w.a.phoneNumberId}/calls?direction=inbound&limit=5&fields=kapso()`);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { data: [], paging: { cursors: {} } });
    kapso.assertResponse('listCalls', 200, response.body);
  });

  test('its query is checked like the other lists', async () => {
    for (const [query, names] of [['limit=500', 'limit'], ['since=soon', 'since'], ['status=lost', 'status'], ['fields=kapso(', 'fields']]) {
      const response = await proxy(w.t, `${w.a.phoneNumberId}/calls?${query}`);
      assert.equal(response.status, 400, query);
      assert.ok(response.body.error.message.includes(names), response.body.error.message);
    }
  });
});

describe('tenants', () => {
  test("another project's number is not found, whichever key asks", async () => {
    for (const [pnid, key] of [
      [w.theirs.phoneNumberId, w.t.key],
      [w.a.phoneNumberId, w.t.otherKey],
    ] as const) {
      for (const path of ['messages', `messages/${encodeURIComponent(ids.a1)}`, 'calls']) {
        const response = await proxy(w.t, `${pnid}/${path}`, { key });
        assert.equal(response.status, 404, response.text);
        assert.deepEqual({ ...response.body.error, fbtrace_id: undefined }, { message: 'Phone number not found', type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: undefined });
        if (path === 'messages') kapso.assertResponse('listMessages', 404, response.body);
      }
    }
  });

  test('the other project sees its own history through its own number', async () => {
    const response = await messages('', w.theirs.phoneNumberId, w.t.otherKey);
    assert.deepEqual(page(response).ids, [ids.theirs]);
  });
});

test('none of these calls reached Meta', () => {
  assert.deepEqual(w.meta.seen, []);
});
