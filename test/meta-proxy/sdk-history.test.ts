// Kapso's own SDK (@kapso/whatsapp-cloud-api), unmodified, pointed at Parley over a real socket:
// its history, conversation, contact and call helpers work against what the proxy serves, and
// its error class reads Parley's refusals.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { buildKapsoFields, GraphApiError, WhatsAppClient } from '@kapso/whatsapp-cloud-api';
import { inbound, startWorld, type World } from './history-setup.ts';

const ALICE = '16505550401';
const BOB = '16505550402';

let w: World;
let client: WhatsAppClient;
const wamids: string[] = [];

before(async () => {
  w = await startWorld();
  await w.t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = w.t.app.server.address() as AddressInfo;
  client = new WhatsAppClient({ baseUrl: `http://127.0.0.1:${port}/meta/whatsapp`, kapsoApiKey: w.t.key });
  wamids.push(await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', text: 'one' }));
  wamids.push(await inbound(w.t, w.a, { waId: ALICE, name: 'Alice', text: 'two' }));
  wamids.push(await inbound(w.t, w.a, { waId: BOB, name: 'Bob', text: 'three' }));
});
after(async () => w.close());

test('messages.query pages with the cursors it is given; messages.get and listByConversation', async () => {
  const first = await client.messages.query({ phoneNumberId: w.a.phoneNumberId, limit: 2, fields: buildKapsoFields() });
  assert.deepEqual(first.data.map((m) => m.id), [wamids[2], wamids[1]]);
  const kapso = first.data[0]!.kapso as Record<string, unknown>;
  assert.equal(kapso.direction, 'inbound');
  assert.equal(kapso.contactName, 'Bob', 'the SDK camel-cases the keys');
  const after = first.paging?.cursors?.after ?? undefined;
  assert.equal(typeof after, 'string');
  const second = await client.messages.query({ phoneNumberId: w.a.phoneNumberId, limit: 2, after });
  assert.deepEqual(second.data.map((m) => m.id), [wamids[0]]);

  const one = await client.messages.get({ phoneNumberId: w.a.phoneNumberId, messageId: wamids[0]!, fields: 'kapso()' });
  assert.equal(one.id, wamids[0]);
  assert.equal((one as { kapso?: unknown }).kapso, undefined);

  const conversationId = kapso.whatsappConversationId as string;
  const bobs = await client.messages.listByConversation({ phoneNumberId: w.a.phoneNumberId, conversationId });
  assert.deepEqual(bobs.data.map((m) => m.id), [wamids[2]]);
});

test('conversations.list, get and updateStatus', async () => {
  const listed = await client.conversations.list({ phoneNumberId: w.a.phoneNumberId, status: 'active', phoneNumber: `+${ALICE}` });
  assert.equal(listed.data.length, 1);
  const conversation = listed.data[0]! as unknown as Record<string, unknown>;
  assert.equal(conversation.phoneNumber, ALICE);
  assert.equal(conversation.whatsappConfigId, w.a.internalId);
  const fetched = (await client.conversations.get({ conversationId: conversation.id as string })) as unknown as Record<string, unknown>;
  assert.equal(fetched.id, conversation.id);
  assert.deepEqual(await client.conversations.updateStatus({ conversationId: conversation.id as string, status: 'ended' }), { success: true });
  const ended = await client.conversations.list({ phoneNumberId: w.a.phoneNumberId, status: 'ended' });
  assert.deepEqual(ended.data.map((c) => c.id), [conversation.id]);
});

test('contacts.list, get and update (metadata keys arrive snake-cased and are stored so)', async () => {
  const listed = await client.contacts.list({ phoneNumberId: w.a.phoneNumberId, waId: BOB });
  assert.equal(listed.data.length, 1);
  assert.deepEqual(await client.contacts.update({ phoneNumberId: w.a.phoneNumberId, waId: BOB, displayName: 'Bob B.', metadata: { planTier: 'gold' } }), { success: true });
  const stored = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${BOB}` });
  assert.equal(stored.body.data.display_name, 'Bob B.');
  assert.deepEqual(stored.body.data.metadata, { plan_tier: 'gold' });
  const fetched = (await client.contacts.get({ phoneNumberId: w.a.phoneNumberId, waId: BOB })) as unknown as Record<string, unknown>;
  assert.equal(fetched.displayName, 'Bob B.');
  assert.deepEqual(fetched.metadata, { planTier: 'gold' });
});

test('calls.list is an empty page; refusals reach the SDK as GraphApiError with our code', async () => {
  const calls = await client.calls.list({ phoneNumberId: w.a.phoneNumberId });
  assert.deepEqual(calls.data, []);
  await assert.rejects(
    () => client.messages.get({ phoneNumberId: w.a.phoneNumberId, messageId: 'wamid.none' }),
    (error: unknown) => error instanceof GraphApiError && error.httpStatus === 404 && error.code === 404 && error.type === 'MessageError',
  );
  await assert.rejects(
    () => client.messages.query({ phoneNumberId: w.a.phoneNumberId, since: 'last week' }),
    (error: unknown) => error instanceof GraphApiError && error.httpStatus === 400 && error.code === 100 && /since/.test(error.message),
  );
  await assert.rejects(
    () => client.contacts.get({ phoneNumberId: w.theirs.phoneNumberId, waId: ALICE }),
    (error: unknown) => error instanceof GraphApiError && error.httpStatus === 404 && error.errorSubcode === 33,
  );
  assert.deepEqual(w.meta.seen, []);
});
