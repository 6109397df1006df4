// The worker sends runs of plain-message bodies to the database as one call
// (parley_ingest_messages, src/meta-inbound/message-batch.ts) and everything else through
// processor.ts. The same traffic, processed once entirely through processor.ts and once by the
// worker, must leave the same contacts, conversations, messages, outbox rows and event states.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import pino from 'pino';
import type { Database } from '../../src/db/schema.ts';
import { finishEvent, lockPendingEvents } from '../../src/meta-inbound/events-repo.ts';
import { processEvent } from '../../src/meta-inbound/processor.ts';
import { MetaEventWorker } from '../../src/meta-inbound/worker.ts';
import { emitMetaRaw } from '../../src/webhooks/outbox-repo.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type ConnectedNumber, connectNumber, deliver, envelope, fixture, freshUser, statusBody, textBody, unix, wamid } from '../helpers/meta.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t?.close());
const db = (): Kysely<Database> => t.database.db;

const HOUR = 3_600_000;
const base = Date.now() - 72 * HOUR;
const at = (hours: number) => new Date(base + hours * HOUR);

/** A sequence of bodies that exercises every branch of the batch call, mixed with bodies for the general path. */
function cast() {
  return {
    ann: freshUser(),
    bob: freshUser(),
    cleo: freshUser(), // BSUID-only first, her number comes later
    dan: freshUser(), // number only first, his BSUID comes later
    holder: freshUser(), // holds a number that another contact's message also names
    mover: freshUser(),
    moved: freshUser(),
    wamids: Array.from({ length: 30 }, () => wamid()),
  };
}

function traffic(phoneNumberId: string, people: ReturnType<typeof cast>): unknown[] {
  const { ann, bob, cleo, dan, holder, mover, moved } = people;
  let next = 0;
  // The same wamids for both numbers (they belong to different projects).
  const wamid = () => people.wamids[next++]!;
  const ids = { early: wamid(), repeated: wamid(), late: wamid() };
  const text = (sender: Parameters<typeof textBody>[1]) => textBody(phoneNumberId, { wamid: wamid(), ...sender }).body;
  const twoMessages = envelope(phoneNumberId, 'messages', {
    contacts: [
      { profile: { name: 'Ann' }, wa_id: ann.waId, user_id: ann.bsuid },
      { profile: { name: 'Bob' }, wa_id: bob.waId, user_id: bob.bsuid },
    ],
    messages: [
      { from: ann.waId, from_user_id: ann.bsuid, id: wamid(), timestamp: unix(at(2)), type: 'image', image: { id: 'm1', caption: 'a photo' } },
      { from: bob.waId, from_user_id: bob.bsuid, id: wamid(), timestamp: unix(at(2)), type: 'reaction', reaction: { message_id: 'x', emoji: '👍' } },
    ],
  });
  return [
    text({ ...ann, name: 'Ann', timestamp: at(0), text: 'first' }),
    text({ ...ann, name: 'Ann B', username: '@ann', parentBsuid: 'US.ENT.1', timestamp: at(1) }),
    twoMessages,
    text({ waId: '', bsuid: cleo.bsuid, name: 'Cleo', timestamp: at(1) }),
    text({ waId: cleo.waId, bsuid: cleo.bsuid, name: 'Cleo', timestamp: at(2) }),
    text({ waId: cleo.waId, bsuid: cleo.bsuid, name: 'Cleo', timestamp: at(3), omitFrom: true }),
    text({ waId: dan.waId, name: 'Dan', timestamp: at(1) }),
    text({ waId: dan.waId, bsuid: dan.bsuid, name: 'Dan', timestamp: at(2) }),
    text({ waId: holder.waId, name: 'Holder', timestamp: at(1) }),
    text({ waId: '', bsuid: holder.bsuid, name: 'Not holder', timestamp: at(1) }),
    text({ waId: holder.waId, bsuid: holder.bsuid, name: 'Not holder', timestamp: at(2) }), // the number is taken: not moved
    // A status before its message (parked), then the message, then it again (a redelivery).
    statusBody(phoneNumberId, 'read', { wamid: ids.early, waId: bob.waId, at: at(4) }),
    text({ ...bob, wamid: ids.early, name: 'Bob', timestamp: at(3) }),
    text({ ...bob, wamid: ids.early, name: 'Bob', timestamp: at(3) }),
    // Out of order in Meta time, then 30 hours of quiet: the conversation ends, a new one opens.
    text({ ...bob, wamid: ids.late, name: 'Bob', timestamp: at(5) }),
    text({ ...bob, wamid: ids.repeated, name: 'Bob', timestamp: at(4) }),
    text({ ...bob, name: 'Bob', timestamp: at(35) }),
    // A number change in the middle of a run of plain messages.
    text({ ...mover, name: 'Mover', timestamp: at(1) }),
    fixture('user_changed_number', { PHONE_NUMBER_ID: phoneNumberId, OLD_WA_ID: mover.waId, OLD_USER_ID: mover.bsuid, NEW_WA_ID: moved.waId, NEW_USER_ID: moved.bsuid, WAMID: wamid(), TIMESTAMP: unix(at(2)) }),
    text({ ...moved, name: 'Mover', timestamp: at(3) }),
    text({ waId: '', name: 'Nobody', timestamp: at(3) }), // names no sender: fails on every attempt
  ];
}

/** Everything the traffic of one number produced, with ids replaced by stable labels. */
async function snapshot(number: ConnectedNumber) {
  const project = (await db().selectFrom('phone_numbers').select('project_id').where('phone_number_id', '=', number.phoneNumberId).executeTakeFirstOrThrow()).project_id;
  const labels = new Map<string, string>([[number.phoneNumberId, 'the number']]);
  const contacts = await db().selectFrom('contacts').selectAll().where('project_id', '=', project).orderBy('created_at').orderBy('wa_id').execute();
  contacts.forEach((c, i) => labels.set(c.id, `contact ${i}`));
  const conversations = await db().selectFrom('conversations').selectAll().where('project_id', '=', project).orderBy('created_at').execute();
  conversations.forEach((c, i) => labels.set(c.id, `conversation ${i}`));
  const events = await db().selectFrom('meta_events').select(['id', 'state', 'attempts', 'note']).where(sql<boolean>`body LIKE ${`%${number.phoneNumberId}%`}`).orderBy('id').execute();
  events.forEach((e, i) => labels.set(`event ${e.id}`, `event ${i}`));
  const label = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value), (key, v) => (key === 'meta_event_id' ? labels.get(`event ${v}`) : typeof v === 'string' ? (labels.get(v) ?? v) : v));
  const messages = await db().selectFrom('messages').selectAll().where('project_id', '=', project).orderBy('wamid').execute();
  const outbox = await db().selectFrom('webhook_events').select(['event', 'subject', 'phone_number_id']).where('project_id', '=', project).where('event', 'not like', 'whatsapp.phone_number.%').orderBy('created_at').orderBy('id').execute();
  return label({
    contacts: contacts.map((c) => ({ id: c.id, wa_id: c.wa_id, bsuid: c.business_scoped_user_id, parent: c.parent_business_scoped_user_id, username: c.username, name: c.profile_name, version: c.version })),
    conversations: conversations.map(({ project_id, phone_number_internal_id, created_at, updated_at, ended_at, ...rest }) => ({ ...rest, ended: ended_at !== null })),
    messages: messages.map(({ id, project_id, created_at, ...rest }) => rest),
    events: events.map(({ id, ...rest }) => rest),
    outbox,
  });
}

/** The reference: every body through processor.ts, one at a time, as the worker's general path does it. */
async function processOneByOne(): Promise<void> {
  await db().transaction().execute(async (tx) => {
    for (const event of await lockPendingEvents(tx, 1000)) {
      await sql`SAVEPOINT event`.execute(tx);
      try {
        const result = await processEvent(tx, JSON.parse(event.body));
        for (const n of result.numbers) await emitMetaRaw(tx, n.project_id, n.phone_number_id, event.id);
        await finishEvent(tx, event.id, result.state, result.note);
      } catch (error) {
        await sql`ROLLBACK TO SAVEPOINT event`.execute(tx);
        await sql`UPDATE meta_events SET attempts = 5, state = 'failed', note = ${(error as Error).message} WHERE id = ${event.id}`.execute(tx);
      }
    }
  });
}

async function subscribeEverything(number: ConnectedNumber, key: string): Promise<void> {
  const project = (await db().selectFrom('phone_numbers').select('project_id').where('phone_number_id', '=', number.phoneNumberId).executeTakeFirstOrThrow()).project_id;
  const events = ['whatsapp.message.received', 'whatsapp.message.read', 'whatsapp.message.delivered', 'whatsapp.conversation.created', 'whatsapp.conversation.ended', 'whatsapp.contact.created', 'whatsapp.contact.updated'];
  await sql`INSERT INTO webhooks (project_id, phone_number_id, url, kind, events) VALUES (${project}, NULL, 'http://127.0.0.1:9/k', 'kapso', ${events})`.execute(db());
  await sql`INSERT INTO webhooks (project_id, phone_number_id, url, kind) VALUES (${project}, ${number.phoneNumberId}, 'http://127.0.0.1:9/m', 'meta')`.execute(db());
  void key;
}

test('the batch call leaves exactly what processor.ts leaves, in the same order', async () => {
  const reference = await connectNumber(t, { key: t.key });
  const batched = await connectNumber(t, { key: t.otherKey });
  await subscribeEverything(reference, t.key);
  await subscribeEverything(batched, t.otherKey);

  const people = cast();
  for (const body of traffic(reference.phoneNumberId, people)) await deliver(t, body);
  await processOneByOne();

  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  // Failed attempts retried at once (no wait), so five drains spend a failing body's attempts.
  const worker = new MetaEventWorker(db(), logger, { pollMs: 50, batchSize: 50, retrySeconds: [0] });
  for (const body of traffic(batched.phoneNumberId, people)) await deliver(t, body);
  for (let attempt = 0; attempt < 5; attempt += 1) await worker.drain();

  const failedCalls = lines.filter((l) => l.includes('batch call failed'));
  assert.deepEqual(failedCalls, [], 'no batch call fell back to the general path');
  const expected = (await snapshot(reference)) as Record<string, unknown>;
  const got = (await snapshot(batched)) as Record<string, unknown>;
  for (const part of Object.keys(expected)) assert.deepEqual(got[part], expected[part], part);
  // The traffic did reach the branches it is meant to cover.
  const seen = JSON.stringify(expected);
  for (const needle of ['meta.raw', 'whatsapp.contact.updated', 'whatsapp.conversation.ended', 'whatsapp.message.read', '"state":"failed"', '"is_new_conversation":true', '"status":"read"']) {
    assert.ok(seen.includes(needle), needle);
  }
});

test('a run of plain messages is one database call, and no call fails on ordinary traffic', async () => {
  const number = await connectNumber(t);
  const users = Array.from({ length: 5 }, () => freshUser());
  for (let i = 0; i < 40; i += 1) await deliver(t, textBody(number.phoneNumberId, { ...users[i % 5]!, name: `User ${i % 5}`, timestamp: at(i) }).body);
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const calls: string[] = [];
  const counting = db().withPlugin({
    transformQuery: (args) => {
      if (args.node.kind === 'RawNode' && args.node.sqlFragments.join('').includes('parley_ingest_messages')) calls.push('call');
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  assert.equal(await new MetaEventWorker(counting, logger, { pollMs: 50, batchSize: 100 }).drain(), 40);
  assert.deepEqual(lines, []);
  // One call per batch; a batch holds at most half the sender lanes (sender-lane.ts), so the
  // five senders' 40 bodies take one batch or two.
  assert.ok(calls.length >= 1 && calls.length <= 2, `calls: ${calls.length}`);
  const counts = await db().selectFrom('conversations').select('messages_count').where('phone_number_id', '=', number.phoneNumberId).execute();
  assert.deepEqual(counts.map((c) => c.messages_count).sort(), [8, 8, 8, 8, 8]);
});
