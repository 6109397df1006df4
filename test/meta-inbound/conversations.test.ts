// Conversations opened by inbound traffic: one active per (number, contact), a new one after
// 24 hours of silence, and the idle sweep (endIdleConversations).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { endIdleConversations } from '../../src/conversations/ingest-repo.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, deliver, drain, freshUser, textBody } from '../helpers/meta.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());

const db = () => t.database.db;
const HOUR = 3_600_000;

async function conversationsOf(waId: string) {
  return db()
    .selectFrom('conversations')
    .innerJoin('contacts', 'contacts.id', 'conversations.contact_id')
    .selectAll('conversations')
    .where('contacts.wa_id', '=', waId)
    .orderBy('conversations.created_at')
    .execute();
}

test('the first message opens one active conversation; messages within 24 h join it', async () => {
  const number = await connectNumber(t);
  const user = freshUser();
  const base = Date.now() - 3 * 24 * HOUR;
  const first = textBody(number.phoneNumberId, { ...user, text: 'first', timestamp: new Date(base) });
  const second = textBody(number.phoneNumberId, { ...user, text: 'second', timestamp: new Date(base + 23 * HOUR) });
  await deliver(t, first.body);
  await drain(db());
  let rows = await conversationsOf(user.waId);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.status, 'active');
  assert.equal(rows[0]!.messages_count, 1);
  assert.equal(rows[0]!.phone_number_id, number.phoneNumberId);
  assert.equal(rows[0]!.phone_number_internal_id, number.internalId);

  await deliver(t, second.body);
  await drain(db());
  rows = await conversationsOf(user.waId);
  assert.equal(rows.length, 1, 'within 24 h: the same conversation');
  assert.equal(rows[0]!.messages_count, 2);
  assert.equal(rows[0]!.last_message_id, second.wamid);
  assert.equal(rows[0]!.last_message_text, 'second');
  assert.equal(new Date(rows[0]!.last_active_at).getTime(), Math.floor((base + 23 * HOUR) / 1000) * 1000);
  assert.equal(new Date(rows[0]!.last_inbound_at!).getTime(), Math.floor((base + 23 * HOUR) / 1000) * 1000);
});

test('a message more than 24 h after the last one ends the old conversation and opens a new one', async () => {
  const number = await connectNumber(t);
  const user = freshUser();
  const base = Date.now() - 3 * 24 * HOUR;
  const first = textBody(number.phoneNumberId, { ...user, timestamp: new Date(base) });
  const late = textBody(number.phoneNumberId, { ...user, text: 'back again', timestamp: new Date(base + 25 * HOUR) });
  await deliver(t, first.body);
  await drain(db());
  await deliver(t, late.body);
  await drain(db());
  const rows = await conversationsOf(user.waId);
  assert.equal(rows.length, 2);
  const [old, current] = rows;
  assert.equal(old!.status, 'ended');
  assert.ok(old!.ended_at);
  assert.equal(old!.messages_count, 1);
  assert.equal(current!.status, 'active');
  assert.equal(current!.messages_count, 1);
  assert.equal(current!.last_message_id, late.wamid);
  const lateMessage = await db().selectFrom('messages').select('conversation_id').where('wamid', '=', late.wamid).executeTakeFirstOrThrow();
  assert.equal(lateMessage.conversation_id, current!.id);
});

test('one active conversation per number and contact: two numbers, two conversations; a late older message does not move last_*', async () => {
  const a = await connectNumber(t);
  const b = await connectNumber(t);
  const user = freshUser();
  const now = Date.now();
  const newest = textBody(a.phoneNumberId, { ...user, text: 'newest', timestamp: new Date(now - 1000) });
  const older = textBody(a.phoneNumberId, { ...user, text: 'older, delivered late', timestamp: new Date(now - 60_000) });
  await deliver(t, newest.body);
  await deliver(t, textBody(b.phoneNumberId, { ...user, text: 'to the other number' }).body);
  await drain(db());
  await deliver(t, older.body);
  await drain(db());
  const rows = await conversationsOf(user.waId);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((r) => r.status), ['active', 'active']);
  assert.deepEqual(new Set(rows.map((r) => r.phone_number_internal_id)), new Set([a.internalId, b.internalId]));
  assert.equal(new Set(rows.map((r) => r.contact_id)).size, 1);
  const onA = rows.find((r) => r.phone_number_internal_id === a.internalId)!;
  assert.equal(onA.messages_count, 2);
  assert.equal(onA.last_message_id, newest.wamid);
  assert.equal(onA.last_message_text, 'newest');
});

test('endIdleConversations ends conversations idle for 24 h, keeps the others, and is idempotent', async () => {
  const number = await connectNumber(t);
  const idle = freshUser();
  const fresh = freshUser();
  await deliver(t, textBody(number.phoneNumberId, { ...idle, timestamp: new Date(Date.now() - 25 * HOUR) }).body);
  await deliver(t, textBody(number.phoneNumberId, { ...fresh, timestamp: new Date(Date.now() - 23 * HOUR) }).body);
  await drain(db());
  assert.equal((await conversationsOf(idle.waId))[0]!.status, 'active', 'still active until the sweep runs');

  const ended = await endIdleConversations(db(), new Date());
  assert.ok(ended >= 1, `ended ${ended}`);
  assert.equal(await endIdleConversations(db(), new Date()), 0, 'a second sweep finds nothing');
  const [idleRow] = await conversationsOf(idle.waId);
  assert.equal(idleRow!.status, 'ended');
  assert.ok(idleRow!.ended_at);
  assert.equal((await conversationsOf(fresh.waId))[0]!.status, 'active');
  const remaining = await db().selectFrom('conversations').select('id').where('status', '=', 'active').where('last_active_at', '<', new Date(Date.now() - 24 * HOUR).toISOString()).execute();
  assert.equal(remaining.length, 0, 'no idle conversation is left active');

  // The user writes again: a new conversation, the ended one stays ended.
  await deliver(t, textBody(number.phoneNumberId, { ...idle, text: 'hello again' }).body);
  await drain(db());
  const rows = await conversationsOf(idle.waId);
  assert.deepEqual(rows.map((r) => [r.status, r.messages_count]), [['ended', 1], ['active', 1]]);
});
