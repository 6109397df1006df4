// What the inbound worker makes of Meta's deliveries: contacts (by number, BSUID or both),
// messages once per wamid, statuses in any order, marketing preferences, and routing by
// phone_number_id. Bodies are posted through the real webhook, then the worker drains the queue.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { insertMessage } from '../../src/messages/ingest-repo.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type ConnectedNumber, connectNumber, deliver, drain, fixture, freshUser, preferenceBody, statusBody, textBody, unix, wamid } from '../helpers/meta.ts';

let t: TestApp;
let projectId: string;
before(async () => {
  t = await startTestApp();
  projectId = (await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow()).id;
});
after(async () => t?.close());

const db = () => t.database.db;

async function contactsMatching(values: string[]) {
  return db()
    .selectFrom('contacts')
    .selectAll()
    .where('project_id', '=', projectId)
    .where((eb) => eb.or([eb('wa_id', 'in', values), eb('business_scoped_user_id', 'in', values)]))
    .execute();
}

async function getContact(identifier: string) {
  return t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${encodeURIComponent(identifier)}` });
}

async function message(id: string) {
  return db().selectFrom('messages').selectAll().where('wamid', '=', id).executeTakeFirst();
}

async function preference(contactId: string, number: ConnectedNumber) {
  return db().selectFrom('marketing_preferences').selectAll().where('contact_id', '=', contactId).where('phone_number_id', '=', number.phoneNumberId).executeTakeFirst();
}

test('every message type of the fixtures is stored once with its payload, media flag and text', async () => {
  const number = await connectNumber(t);
  const expected: [string, string, boolean, string | null][] = [
    ['text', 'text', false, 'Hi, is my order on its way?'],
    ['image', 'image', true, 'Photo of the damaged box'],
    ['audio', 'audio', true, null],
    ['video', 'video', true, 'Unboxing'],
    ['document', 'document', true, 'Invoice for March'],
    ['sticker', 'sticker', true, null],
    ['location', 'location', false, 'Philz Coffee'],
    ['contacts', 'contacts', false, null],
    ['interactive_button_reply', 'interactive', false, 'Yes, confirm'],
    ['button', 'button', false, 'Stop promotions'],
    ['reaction', 'reaction', false, '👍'],
    ['order', 'order', false, 'Two of these, please'],
  ];
  const sent = expected.map(([name]) => fixture(name, { PHONE_NUMBER_ID: number.phoneNumberId }));
  for (const body of sent) await deliver(t, body);
  assert.equal(await drain(db()), expected.length);

  const rows = await db().selectFrom('messages').selectAll().where('phone_number_id', '=', number.phoneNumberId).orderBy('sent_at').execute();
  assert.deepEqual(
    rows.map((r) => [r.type, r.has_media, r.content]),
    expected.map(([, type, media, text]) => [type, media, text]),
  );
  for (const [i, row] of rows.entries()) {
    const original = sent[i].entry[0].changes[0].value.messages[0];
    assert.deepEqual(row.payload, original, `${row.type}: the payload is kept as Meta sent it`);
    assert.equal(row.direction, 'inbound');
    assert.equal(new Date(row.sent_at).getTime(), Number(original.timestamp) * 1000);
  }
  const contact = await getContact('16505551234');
  assert.equal(contact.status, 200, contact.text);
  assert.equal(contact.body.data.wa_id, '16505551234');
  assert.equal(contact.body.data.business_scoped_user_id, 'US.13491208655302741918');
  assert.equal(contact.body.data.parent_business_scoped_user_id, 'US.ENT.506847293015824');
  assert.equal(contact.body.data.username, '@sheena.nelson');
  assert.equal(contact.body.data.profile_name, 'Sheena Nelson');
  assert.equal((await getContact('US.13491208655302741918')).body.data.id, contact.body.data.id);
  assert.ok(rows.every((r) => r.contact_id === contact.body.data.id));

  const conversations = await db().selectFrom('conversations').selectAll().where('phone_number_id', '=', number.phoneNumberId).execute();
  assert.equal(conversations.length, 1);
  assert.equal(conversations[0]!.messages_count, expected.length);
  assert.equal(conversations[0]!.last_message_type, 'order');
  assert.equal(conversations[0]!.last_message_text, 'Two of these, please');
});

test('a BSUID-only user gets a contact without wa_id; a later message with both fills it in on the same contact', async () => {
  const number = await connectNumber(t);
  await deliver(t, fixture('bsuid_only', { PHONE_NUMBER_ID: number.phoneNumberId }));
  const other = freshUser();
  await deliver(t, textBody(number.phoneNumberId, { waId: '', bsuid: other.bsuid, text: 'from is an empty string' }).body);
  await drain(db());

  const [priya] = await contactsMatching(['US.7381920465128374651']);
  assert.ok(priya);
  assert.equal(priya.wa_id, null);
  assert.equal(priya.username, '@priya.k');
  assert.equal(priya.profile_name, 'Priya');
  assert.equal(priya.parent_business_scoped_user_id, 'US.ENT.506847293015824');
  const [second] = await contactsMatching([other.bsuid]);
  assert.equal(second?.wa_id, null);

  await deliver(t, textBody(number.phoneNumberId, { waId: '16505559876', bsuid: 'US.7381920465128374651', name: 'Priya K', timestamp: '1749417060' }).body);
  await drain(db());
  const after = await contactsMatching(['US.7381920465128374651', '16505559876']);
  assert.equal(after.length, 1, 'no second contact for the same user');
  assert.equal(after[0]!.id, priya.id);
  assert.equal(after[0]!.wa_id, '16505559876');
  assert.equal(after[0]!.profile_name, 'Priya K');
  assert.equal((await getContact('+1 650-555-9876')).body.data.id, priya.id);
  const conversations = await db().selectFrom('conversations').select(['contact_id', 'messages_count']).where('contact_id', '=', priya.id).execute();
  assert.deepEqual(conversations, [{ contact_id: priya.id, messages_count: 2 }]);
});

test('a known wa_id is never replaced by an empty or missing one', async () => {
  const number = await connectNumber(t);
  const user = freshUser();
  await deliver(t, textBody(number.phoneNumberId, { ...user, name: 'Original' }).body);
  await drain(db());
  const [before] = await contactsMatching([user.waId]);
  assert.equal(before?.wa_id, user.waId);

  await deliver(t, textBody(number.phoneNumberId, { waId: '', bsuid: user.bsuid, name: 'Renamed' }).body);
  await deliver(t, textBody(number.phoneNumberId, { bsuid: user.bsuid, omitFrom: true, name: 'Renamed again' }).body);
  await drain(db());
  const after = await contactsMatching([user.waId, user.bsuid]);
  assert.equal(after.length, 1);
  assert.equal(after[0]!.id, before!.id);
  assert.equal(after[0]!.wa_id, user.waId);
  assert.equal(after[0]!.profile_name, 'Renamed again', 'the messages were processed');
  assert.equal(Number((await db().selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('contact_id', '=', before!.id).executeTakeFirstOrThrow()).n), 3);
});

test('user_changed_number moves the identity to the same contact, with no duplicate afterwards', async () => {
  const number = await connectNumber(t);
  const old = freshUser();
  const next = freshUser();
  await deliver(t, textBody(number.phoneNumberId, { ...old, name: 'Sheena', timestamp: new Date(Date.now() - 60_000) }).body);
  await drain(db());
  const [contact] = await contactsMatching([old.waId]);
  assert.ok(contact);

  const vars = { PHONE_NUMBER_ID: number.phoneNumberId, OLD_WA_ID: old.waId, OLD_USER_ID: old.bsuid, NEW_WA_ID: next.waId, NEW_USER_ID: next.bsuid, WAMID: wamid(), TIMESTAMP: unix(new Date(Date.now() - 30_000)) };
  await deliver(t, fixture('user_changed_number', vars));
  await drain(db());
  const moved = await contactsMatching([old.waId, old.bsuid, next.waId, next.bsuid]);
  assert.equal(moved.length, 1);
  assert.equal(moved[0]!.id, contact.id);
  assert.equal(moved[0]!.wa_id, next.waId);
  assert.equal(moved[0]!.business_scoped_user_id, next.bsuid);
  assert.equal((await getContact(old.waId)).status, 404, 'the old number no longer names the contact');

  await deliver(t, textBody(number.phoneNumberId, { ...next, name: 'Sheena' }).body);
  await drain(db());
  const final = await contactsMatching([old.waId, old.bsuid, next.waId, next.bsuid]);
  assert.deepEqual(final.map((c) => c.id), [contact.id]);
  const conversations = await db().selectFrom('conversations').select(['status', 'messages_count']).where('contact_id', '=', contact.id).execute();
  assert.deepEqual(conversations, [{ status: 'active', messages_count: 3 }]);
});

test('the same delivery posted twice stores one message and counts it once', async () => {
  const number = await connectNumber(t);
  const { body, wamid: id } = textBody(number.phoneNumberId, { ...freshUser(), text: 'at least once' });
  await deliver(t, body);
  await deliver(t, body);
  assert.equal(await drain(db()), 2);
  await deliver(t, body); // and once more after the first copies were processed
  assert.equal(await drain(db()), 1);
  const rows = await db().selectFrom('messages').select(['id', 'conversation_id']).where('wamid', '=', id).execute();
  assert.equal(rows.length, 1);
  const conversation = await db().selectFrom('conversations').selectAll().where('id', '=', rows[0]!.conversation_id).executeTakeFirstOrThrow();
  assert.equal(conversation.messages_count, 1);
  assert.equal(conversation.last_message_id, id);
  const states = await db().selectFrom('meta_events').select('state').where('body', 'like', `%${id}%`).execute();
  assert.deepEqual(states.map((s) => s.state), ['processed', 'processed', 'processed']);
});

/** An outbound message as the (future) sending path would store it, to receive statuses. */
async function outbound(number: ConnectedNumber, contactId: string, conversationId: string): Promise<string> {
  const id = wamid();
  await db().transaction().execute(async (tx) => {
    const stored = await insertMessage(tx, {
      projectId, wamid: id, conversationId, contactId, phoneNumberId: number.phoneNumberId, direction: 'outbound', type: 'text',
      status: 'pending', sentAt: new Date(), payload: { type: 'text', text: { body: 'Your order shipped' } }, hasMedia: false, content: 'Your order shipped',
    });
    assert.ok(stored);
  });
  return id;
}

async function userWithConversation(number: ConnectedNumber) {
  const user = freshUser();
  await deliver(t, textBody(number.phoneNumberId, user).body);
  await drain(db());
  const [contact] = await contactsMatching([user.waId]);
  const conversation = await db().selectFrom('conversations').select('id').where('contact_id', '=', contact!.id).executeTakeFirstOrThrow();
  return { user, contactId: contact!.id, conversationId: conversation.id };
}

test('statuses arriving out of order (read, delivered, sent) end as read; each is recorded once', async () => {
  const number = await connectNumber(t);
  const { user, contactId, conversationId } = await userWithConversation(number);
  const reversed = await outbound(number, contactId, conversationId);
  const forward = await outbound(number, contactId, conversationId);
  const base = Date.now() - 60_000;
  for (const [i, status] of (['read', 'delivered', 'sent'] as const).entries()) {
    await deliver(t, statusBody(number.phoneNumberId, status, { wamid: reversed, waId: user.waId, at: new Date(base + (2 - i) * 1000) }));
    await drain(db());
  }
  await deliver(t, statusBody(number.phoneNumberId, 'delivered', { wamid: reversed, waId: user.waId, at: new Date(base + 1000) })); // redelivered
  await drain(db());
  const done = await message(reversed);
  assert.equal(done?.status, 'read');
  assert.deepEqual((done?.statuses as { status: string }[]).map((s) => s.status), ['read', 'delivered', 'sent']);

  await deliver(t, statusBody(number.phoneNumberId, 'sent', { wamid: forward, waId: user.waId, at: new Date(base) }));
  await drain(db());
  assert.equal((await message(forward))?.status, 'sent', 'a status does move a message forward');
  await deliver(t, statusBody(number.phoneNumberId, 'delivered', { wamid: forward, waId: user.waId, at: new Date(base + 1000) }));
  await drain(db());
  assert.equal((await message(forward))?.status, 'delivered');
});

test('a status that arrives before its message is parked, then applied when the message arrives', async () => {
  const number = await connectNumber(t);
  const user = freshUser();
  const { body, wamid: id } = textBody(number.phoneNumberId, user);
  await deliver(t, statusBody(number.phoneNumberId, 'read', { wamid: id, waId: user.waId, at: new Date() }));
  await drain(db());
  assert.equal(await message(id), undefined);
  const parked = await db().selectFrom('pending_statuses').selectAll().where('wamid', '=', id).execute();
  assert.equal(parked.length, 1);
  assert.equal((parked[0]!.status as { status: string }).status, 'read');

  await deliver(t, body);
  await drain(db());
  const stored = await message(id);
  assert.equal(stored?.status, 'read');
  assert.deepEqual((stored?.statuses as { status: string }[]).map((s) => s.status), ['read']);
  assert.equal((await db().selectFrom('pending_statuses').select('id').where('wamid', '=', id).execute()).length, 0, 'taken out of the waiting table');
});

test('a failed status with error 131050 stops marketing for the recipient (source meta_delivery_error); other errors do not', async () => {
  const number = await connectNumber(t);
  const byNumber = await userWithConversation(number);
  const at = new Date(Date.now() - 5000);
  await deliver(t, statusBody(number.phoneNumberId, 'failed_131050', { wamid: await outbound(number, byNumber.contactId, byNumber.conversationId), waId: byNumber.user.waId, at }));
  // A BSUID-only recipient is found by recipient_user_id.
  const bsuidOnly = freshUser();
  await deliver(t, textBody(number.phoneNumberId, { waId: '', bsuid: bsuidOnly.bsuid }).body);
  await drain(db());
  const [bsuidContact] = await contactsMatching([bsuidOnly.bsuid]);
  await deliver(t, statusBody(number.phoneNumberId, 'failed_131050', { wamid: wamid(), waId: '', bsuid: bsuidOnly.bsuid, at }));
  // Another error code is no marketing opt-out.
  const other = await userWithConversation(number);
  const otherFailure = statusBody(number.phoneNumberId, 'failed_131050', { wamid: await outbound(number, other.contactId, other.conversationId), waId: other.user.waId, at });
  otherFailure.entry[0].changes[0].value.statuses[0].errors = [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message' }];
  await deliver(t, otherFailure);
  await drain(db());

  for (const contactId of [byNumber.contactId, bsuidContact!.id]) {
    const row = await preference(contactId, number);
    assert.ok(row, 'a preference was recorded');
    assert.equal(row.status, 'stopped');
    assert.equal(row.source, 'meta_delivery_error');
    assert.match(row.detail ?? '', /stop receiving marketing messages/);
    assert.equal(new Date(row.last_event_at).getTime(), Math.floor(at.getTime() / 1000) * 1000);
  }
  assert.equal(await preference(other.contactId, number), undefined);
  assert.equal((await message(otherFailure.entry[0].changes[0].value.statuses[0].id))?.status, 'failed');
});

test('user_preferences: stop then resume ends resumed; a resume delivered before an older stop still wins', async () => {
  const number = await connectNumber(t);
  const base = Date.now() - 3_600_000;
  const inOrder = freshUser();
  await deliver(t, preferenceBody(number.phoneNumberId, 'stop', { ...inOrder, at: new Date(base) }));
  await drain(db());
  const [contact] = await contactsMatching([inOrder.waId]);
  assert.ok(contact, 'the preference change created the contact');
  assert.equal(contact.business_scoped_user_id, inOrder.bsuid);
  let row = await preference(contact.id, number);
  assert.equal(row?.status, 'stopped');
  assert.equal(row?.source, 'meta_webhook');
  assert.equal(row?.detail, 'User requested to stop marketing messages');
  await deliver(t, preferenceBody(number.phoneNumberId, 'resume', { ...inOrder, at: new Date(base + 60_000) }));
  await drain(db());
  row = await preference(contact.id, number);
  assert.equal(row?.status, 'resumed');
  assert.equal(row?.detail, 'User requested to resume marketing messages');

  const reordered = freshUser();
  await deliver(t, preferenceBody(number.phoneNumberId, 'resume', { ...reordered, at: new Date(base + 60_000) }));
  await drain(db());
  await deliver(t, preferenceBody(number.phoneNumberId, 'stop', { ...reordered, at: new Date(base) }));
  await drain(db());
  const [late] = await contactsMatching([reordered.waId]);
  row = await preference(late!.id, number);
  assert.equal(row?.status, 'resumed', 'the newest event wins whatever the arrival order');
  assert.equal(new Date(row!.last_event_at).getTime(), Math.floor((base + 60_000) / 1000) * 1000);
  const count = await db().selectFrom('marketing_preferences').select('id').where('contact_id', 'in', [contact.id, late!.id]).execute();
  assert.equal(count.length, 2, 'one entry per contact and number');
});

async function countRows() {
  const result = await sql<{ contacts: number; messages: number; conversations: number; pending: number; preferences: number }>`
    SELECT (SELECT count(*)::int FROM contacts) AS contacts, (SELECT count(*)::int FROM messages) AS messages,
           (SELECT count(*)::int FROM conversations) AS conversations, (SELECT count(*)::int FROM pending_statuses) AS pending,
           (SELECT count(*)::int FROM marketing_preferences) AS preferences`.execute(db());
  return result.rows[0]!;
}

async function lastEvent() {
  return db().selectFrom('meta_events').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
}

test('an unknown phone_number_id is skipped with a note: nothing created, no retries', async () => {
  const before = await countRows();
  const user = freshUser();
  await deliver(t, textBody('999000111222', user).body);
  await deliver(t, preferenceBody('999000111222', 'stop', { ...user, at: new Date() }));
  assert.equal(await drain(db()), 2);
  assert.equal(await drain(db()), 0, 'nothing left to retry');
  const events = await db().selectFrom('meta_events').selectAll().orderBy('id', 'desc').limit(2).execute();
  for (const event of events) {
    assert.equal(event.state, 'skipped');
    assert.match(event.note ?? '', /999000111222.*not connected/);
    assert.equal(event.attempts, 0);
    assert.ok(event.processed_at);
  }
  assert.deepEqual(await countRows(), before);
});

test('a disconnected number and a number with inbound processing off are skipped', async () => {
  const disconnected = await connectNumber(t);
  const removed = await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/phone_numbers/${disconnected.phoneNumberId}` });
  assert.equal(removed.status, 204);
  const before = await countRows();
  await deliver(t, textBody(disconnected.phoneNumberId, freshUser()).body);
  await drain(db());
  assert.equal((await lastEvent()).state, 'skipped');
  assert.deepEqual(await countRows(), before);

  const off = await connectNumber(t, { inbound: false });
  await deliver(t, textBody(off.phoneNumberId, freshUser()).body);
  await drain(db());
  const skipped = await lastEvent();
  assert.equal(skipped.state, 'skipped');
  assert.match(skipped.note ?? '', /inbound processing is off/);
  assert.deepEqual(await countRows(), before);

  // Switched on, the next delivery is processed (the skipped one is not replayed).
  const on = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/phone_numbers/${off.phoneNumberId}`, body: { whatsapp_phone_number: { inbound_processing_enabled: true } } });
  assert.equal(on.status, 200, on.text);
  const { body, wamid: id } = textBody(off.phoneNumberId, freshUser());
  await deliver(t, body);
  await drain(db());
  assert.equal((await lastEvent()).state, 'processed');
  assert.ok(await message(id));
  assert.equal((await countRows()).messages, before.messages + 1);
});

test('a text carrying an escaped NUL character (valid JSON) is stored without it, not retried into failure', async () => {
  const number = await connectNumber(t);
  const { body, wamid: id } = textBody(number.phoneNumberId, { ...freshUser(), text: 'before\u0000after' });
  await deliver(t, body);
  assert.equal(await drain(db()), 1);
  const event = await lastEvent();
  assert.equal(event.state, 'processed', String(event.note));
  assert.equal(event.attempts, 0);
  const stored = await message(id);
  assert.equal(stored?.content, 'beforeafter');
  assert.deepEqual((stored?.payload as { text: unknown }).text, { body: 'beforeafter' });
});
