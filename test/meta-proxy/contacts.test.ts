// A number's contacts on the proxy (`{pnid}/contacts[/{wa_id}]`): the contacts with a conversation
// on that number, read and updated from Parley's store. Data arrives through the signed Meta
// webhook; updates are read back through the Platform API.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestResponse } from '../helpers/app.ts';
import { deliver, drain, textBody } from '../helpers/meta.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';
import { follow, inbound, proxy, startWorld, type World } from './history-setup.ts';

const kapso = kapsoProxyChecksAlongside('Contact answers');

const ALICE = '16505550301';
const ALICE_BSUID = 'US.73019283746501928374';
const BOB = '16505550302';
const CAROL = '16505550303';
const ERIN = '16505550305';

let w: World;
const id = {} as Record<'alice' | 'bob' | 'carol' | 'erin' | 'theirAlice', string>;

const platformContact = async (identifier: string, key?: string) => {
  const response = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${encodeURIComponent(identifier)}`, ...(key ? { key } : {}) });
  assert.equal(response.status, 200, response.text);
  return response.body.data;
};

const list = (query = '', pnid = w.a.phoneNumberId, key?: string) => proxy(w.t, `${pnid}/contacts${query ? `?${query}` : ''}`, { key });

function page(response: TestResponse): { ids: string[]; body: any } {
  assert.equal(response.status, 200, response.text);
  kapso.assertResponse('listContacts', 200, response.body);
  return { ids: response.body.data.map((c: { id: string }) => c.id), body: response.body };
}

const listIds = async (query: string, pnid?: string) => page(await list(query, pnid)).ids;

function metaError(response: TestResponse, status: number, names?: string): any {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  assert.equal(typeof response.body.error.fbtrace_id, 'string');
  if (names) assert.ok(response.body.error.message.includes(names), `"${response.body.error.message}" names ${names}`);
  kapso.assertComponent('Error', response.body);
  return response.body.error;
}

before(async () => {
  w = await startWorld();
  await deliver(w.t, textBody(w.a.phoneNumberId, { waId: ALICE, bsuid: ALICE_BSUID, name: 'Alice' }).body);
  await drain(w.t.database.db);
  await inbound(w.t, w.a, { waId: BOB, name: 'Bob' });
  await inbound(w.t, w.b, { waId: CAROL, name: 'Carol' });
  await inbound(w.t, w.b, { waId: ALICE, name: 'Alice' });
  await inbound(w.t, w.theirs, { waId: ALICE, name: 'Alice elsewhere' });
  id.alice = (await platformContact(ALICE)).id;
  id.bob = (await platformContact(BOB)).id;
  id.carol = (await platformContact(CAROL)).id;
  id.theirAlice = (await platformContact(ALICE, w.t.otherKey)).id;
  const erin = await w.t.request({ method: 'POST', url: '/platform/v1/whatsapp/contacts', body: { contact: { wa_id: ERIN, display_name: 'Erin' } } });
  assert.equal(erin.status, 201, erin.text);
  id.erin = erin.body.data.id;
  const linked = await w.t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/contacts/${BOB}`, body: { contact: { customer_id: w.a.customerId } } });
  assert.equal(linked.status, 200, linked.text);
});
after(async () => w.close());

describe('GET {pnid}/contacts', () => {
  test('lists the contacts with a conversation on the number, newest first, as the Platform items', async () => {
    assert.deepEqual(await listIds(''), [id.bob, id.alice]);
    assert.deepEqual(await listIds('', w.b.phoneNumberId), [id.carol, id.alice]);
    const { body } = page(await list(''));
    assert.deepEqual(body.data[1], await platformContact(ALICE));
    assert.equal(body.data[1].business_scoped_user_id, ALICE_BSUID);
    assert.equal(body.data[0].customer_id, w.a.customerId);
    assert.ok(!JSON.stringify(body).includes(id.theirAlice));
  });

  test('an ended conversation still makes the contact one of the number', async () => {
    const conversations = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations?phone_number_id=${w.a.phoneNumberId}&phone_number=${BOB}` });
    const bobs = conversations.body.data[0].id;
    const ended = await w.t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/conversations/${bobs}`, body: { whatsapp_conversation: { status: 'ended' } } });
    assert.equal(ended.status, 200, ended.text);
    assert.deepEqual(await listIds(''), [id.bob, id.alice]);
  });

  test('pages by cursor both ways with absolute links', async () => {
    const first = page(await list('limit=1', w.b.phoneNumberId));
    assert.deepEqual(first.ids, [id.carol]);
    const second = page(await follow(w.t, first.body.paging.next));
    assert.deepEqual(second.ids, [id.alice]);
    assert.equal(second.body.paging.next, undefined);
    assert.deepEqual(page(await follow(w.t, second.body.paging.previous)).ids, [id.carol]);
  });

  test('filters: wa_id in any written form, has_customer, customer_id', async () => {
    for (const written of [ALICE, `+${ALICE}`, '+1 (650) 555-0301']) assert.deepEqual(await listIds(`wa_id=${encodeURIComponent(written)}`), [id.alice], written);
    assert.deepEqual(await listIds(`wa_id=${CAROL}`), [], "Carol has no conversation on this number");
    assert.deepEqual(await listIds('has_customer=true'), [id.bob]);
    assert.deepEqual(await listIds('has_customer=false'), [id.alice]);
    assert.deepEqual(await listIds(`customer_id=${w.a.customerId}`), [id.bob]);
    assert.deepEqual(await listIds(`customer_id=${w.a.customerId.toUpperCase()}&has_customer=true`), [id.bob]);
    assert.deepEqual(await listIds(`customer_id=${w.b.customerId}`), []);
    assert.deepEqual(await listIds('sort=name&fields=kapso()'), [id.bob, id.alice], 'unknown keys are ignored');
  });

  test('bad query values are Meta-shaped 400s naming the parameter', async () => {
    for (const [query, names] of [
      ['wa_id=someone', 'wa_id'],
      ['customer_id=cust_123', 'customer_id'],
      ['has_customer=maybe', 'has_customer'],
      ['limit=1000', 'limit'],
      ['before=e30=', 'before'],
      ['fields=kapso(a', 'fields'],
    ]) {
      metaError(await list(query), 400, names);
    }
  });
});

describe('GET {pnid}/contacts/{wa_id}', () => {
  test('answers the bare contact, named as the Platform API names it', async () => {
    const expected = await platformContact(ALICE);
    for (const identifier of [ALICE, `+${ALICE}`, '+1 650 555 0301', id.alice, ALICE_BSUID]) {
      const response = await proxy(w.t, `${w.a.phoneNumberId}/contacts/${encodeURIComponent(identifier)}?fields=kapso()`);
      assert.equal(response.status, 200, `${identifier}: ${response.text}`);
      kapso.assertResponse('getContact', 200, response.body);
      assert.deepEqual(response.body, expected, identifier);
    }
  });

  test('a contact without a conversation on the number, or of another project, is a Meta-shaped 404', async () => {
    for (const [pnid, identifier, key] of [
      [w.a.phoneNumberId, CAROL, undefined],
      [w.a.phoneNumberId, ERIN, undefined],
      [w.b.phoneNumberId, BOB, undefined],
      [w.a.phoneNumberId, '16505550399', undefined],
      [w.a.phoneNumberId, 'not-a-number', undefined],
      [w.a.phoneNumberId, id.theirAlice, undefined],
      [w.theirs.phoneNumberId, ALICE, w.t.otherKey],
    ] as const) {
      const response = await proxy(w.t, `${pnid}/contacts/${encodeURIComponent(identifier)}`, { key });
      if (key) {
        // Their own Alice, through their own number, is found; ours through theirs is not.
        assert.equal(response.status, 200, response.text);
        assert.equal(response.body.id, id.theirAlice);
        continue;
      }
      const error = metaError(response, 404);
      assert.equal(error.message, 'Contact not found', `${pnid} ${identifier}`);
      kapso.assertResponse('getContact', 404, { error });
    }
    assert.equal(metaError(await proxy(w.t, `${w.a.phoneNumberId}/contacts/${ALICE}`, { key: w.t.otherKey }), 404).message, 'Phone number not found');
  });
});

describe('PATCH {pnid}/contacts/{wa_id}', () => {
  const patch = (identifier: string, body: unknown, options: { pnid?: string; key?: string } = {}) =>
    proxy(w.t, `${options.pnid ?? w.a.phoneNumberId}/contacts/${encodeURIComponent(identifier)}`, { method: 'PATCH', body, key: options.key });

  test('stores the names and the metadata as sent; the Platform API sees them', async () => {
    // What the SDK sends for contacts.update({ displayName, metadata: { planTier, lastOrder: { orderId } } }).
    const metadata = { plan_tier: 'gold', last_order: { order_id: 'A-1', items: [1, 2] } };
    const response = await patch('+1 650 555 0301', { display_name: 'Alice (VIP)', profile_name: 'Alice S.', metadata });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { success: true });
    const stored = await platformContact(ALICE);
    assert.equal(stored.display_name, 'Alice (VIP)');
    assert.equal(stored.profile_name, 'Alice S.');
    assert.deepEqual(stored.metadata, metadata);
  });

  test('metadata replaces the stored object; null clears a name', async () => {
    assert.deepEqual((await patch(ALICE, { metadata: { tier_two: true } })).body, { success: true });
    assert.deepEqual((await platformContact(ALICE)).metadata, { tier_two: true });
    assert.deepEqual((await patch(id.alice, { display_name: null })).body, { success: true });
    const stored = await platformContact(ALICE);
    assert.equal(stored.display_name, null);
    assert.equal(stored.profile_name, 'Alice S.');
  });

  test('a bad body is a 400 (or the limit a 422) naming the problem, and changes nothing', async () => {
    const before = await platformContact(BOB);
    for (const [body, names] of [
      [{}, 'profile_name'],
      [{ wa_id: '16505550999' }, 'wa_id'],
      [{ customer_id: w.a.customerId }, 'customer_id'],
      [{ metadata: 'gold' }, 'metadata'],
      [{ display_name: 5 }, 'display_name'],
      [[{ display_name: 'x' }], 'JSON object'],
    ] as const) {
      metaError(await patch(BOB, body), 400, names);
    }
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 9; i++) deep = { level: deep };
    metaError(await patch(BOB, { display_name: 'Deep', metadata: deep }), 422, 'metadata');
    assert.deepEqual(await platformContact(BOB), before);
  });

  test("a contact not of the number, or another project's, is not found and unchanged", async () => {
    assert.equal(metaError(await patch(CAROL, { display_name: 'Nope' }), 404).message, 'Contact not found');
    assert.equal(metaError(await patch(ERIN, { display_name: 'Nope' }), 404).message, 'Contact not found');
    assert.equal(metaError(await patch(ALICE, { display_name: 'Nope' }, { pnid: w.theirs.phoneNumberId }), 404).message, 'Phone number not found');
    assert.equal(metaError(await patch(ALICE, { display_name: 'Nope' }, { key: w.t.otherKey }), 404).message, 'Phone number not found');
    assert.equal((await platformContact(CAROL)).display_name, null);
    assert.equal((await platformContact(ERIN)).display_name, 'Erin');
    assert.equal((await platformContact(ALICE, w.t.otherKey)).display_name, null);
  });
});

test('other methods on these paths are refused here, not forwarded', async () => {
  for (const [method, path] of [
    ['POST', `${w.a.phoneNumberId}/contacts`],
    ['DELETE', `${w.a.phoneNumberId}/contacts/${ALICE}`],
    ['PUT', `${w.a.phoneNumberId}/contacts/${ALICE}`],
  ] as const) {
    const error = metaError(await proxy(w.t, path, { method, body: method === 'DELETE' ? undefined : {} }), 400);
    assert.match(error.message, /^Unsupported /, `${method} ${path}`);
  }
  await platformContact(ALICE);
});

test('none of these calls reached Meta', () => {
  assert.deepEqual(w.meta.seen, []);
});
