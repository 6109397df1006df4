// Sends that arrive together are recorded together (src/sending/recorder.ts): one statement for
// many, each send still recorded exactly once, on its own contact and conversation, and a send
// that cannot be recorded costs the others nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { sql } from 'kysely';
import { createDb, createPool } from '../../src/db/connection.ts';
import { outboundRecord } from '../../src/sending/outbound.ts';
import { OutboundRecorder } from '../../src/sending/recorder.ts';
import { freshUser } from '../helpers/meta.ts';
import { type SendWorld, sendWorld } from './helpers.ts';

/** `parley_send_record_batch_size` from /metrics: statements (`count`) and sends (`sum`). */
async function batchMetric(w: SendWorld): Promise<{ count: number; sum: number }> {
  const response = await w.t.request({ method: 'GET', url: '/metrics' });
  assert.equal(response.status, 200, response.text);
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(response.text)?.[1] ?? 'NaN');
  return { count: read('parley_send_record_batch_size_count'), sum: read('parley_send_record_batch_size_sum') };
}

describe('recording sends in batches', () => {
  let w: SendWorld;

  before(async () => {
    w = await sendWorld();
  });
  after(async () => w.close());

  test('60 concurrent sends to 20 people: fewer statements than sends, each send recorded once, three per conversation', async () => {
    const before = await batchMetric(w);
    const users = Array.from({ length: 20 }, () => freshUser());
    const responses = await Promise.all(
      users.flatMap((user) => [1, 2, 3].map((n) => w.send({ to: user.waId, type: 'text', text: { body: `Update ${n} for ${user.waId}` } }))),
    );
    for (const response of responses) assert.equal(response.status, 200, response.text);
    const wamids = responses.map((r) => r.body.messages[0].id as string);
    assert.equal(new Set(wamids).size, 60);

    const rows = await w.t.database.db.selectFrom('messages').select(['wamid', 'conversation_id']).where('wamid', 'in', wamids).execute();
    assert.equal(rows.length, 60, 'every accepted send is one message row');
    for (const user of users) {
      const conversations = await w.t.database.db
        .selectFrom('conversations as c')
        .innerJoin('contacts as k', 'k.id', 'c.contact_id')
        .select(['c.messages_count', 'c.last_message_text'])
        .where('k.wa_id', '=', user.waId)
        .execute();
      assert.equal(conversations.length, 1, `one conversation for ${user.waId}`);
      assert.equal(conversations[0]!.messages_count, 3);
      assert.match(conversations[0]!.last_message_text ?? '', new RegExp(`^Update [123] for ${user.waId}$`));
    }

    const now = await batchMetric(w);
    assert.equal(now.sum - before.sum, 60, 'the metric counts every recorded send');
    assert.ok(now.count - before.count < 60, `60 sends took ${now.count - before.count} statements: none were batched`);
  });

  test('a send the database refuses is set aside alone: the rest of its batch is recorded, it is logged', async () => {
    const { db } = w.t.database;
    const lines: { level: number; msg: string; wamid?: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const recorder = new OutboundRecorder(db, logger);
    const number = await db.selectFrom('phone_numbers').select(['internal_id', 'phone_number_id']).where('phone_number_id', '=', w.number.phoneNumberId).executeTakeFirstOrThrow();
    // A fault put in the database itself: one message text is refused by a trigger.
    await sql`CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.content = 'poison' THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$`.execute(db);
    await sql`CREATE TRIGGER test_refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_refuse_poison()`.execute(db);
    try {
      const at = new Date();
      const records = Array.from({ length: 10 }, (_, i) => {
        const user = freshUser();
        const wamid = `wamid.batch-${process.pid}-${Date.now()}-${i}`;
        const body = { to: user.waId, type: 'text', text: { body: i === 6 ? 'poison' : `fine ${i}` } };
        return outboundRecord(body, { contacts: [{ wa_id: user.waId }], messages: [{ id: wamid }] }, wamid, at, '15550001111')!;
      });
      // Called in one tick: the first two go alone (two batches may be in flight), the other eight together.
      const results = await Promise.all(records.map((record) => recorder.record(w.projectId, number, record)));
      results.forEach((result, i) => (i === 6 ? assert.equal(result, null) : assert.ok(result, `send ${i} was recorded`)));
      const stored = await db.selectFrom('messages').select('wamid').where('wamid', 'in', records.map((r) => r.wamid)).execute();
      assert.equal(stored.length, 9);
      assert.ok(!stored.some((row) => row.wamid === records[6]!.wamid));
      assert.ok(lines.some((line) => line.msg.startsWith('a batch of sends could not be recorded together')), 'the failed batch is logged');
      const lost = lines.filter((line) => line.msg.startsWith('message accepted by Meta but NOT recorded'));
      assert.deepEqual(lost.map((line) => line.wamid), [records[6]!.wamid], 'only the refused send is reported lost');
    } finally {
      await sql`DROP TRIGGER test_refuse_poison ON messages`.execute(db);
      await sql`DROP FUNCTION test_refuse_poison()`.execute(db);
    }
  });

  test('a send whose wamid is stored already answers null in a batch, and the others are recorded', async () => {
    const { db } = w.t.database;
    const recorder = new OutboundRecorder(db, pino({ level: 'silent' }));
    const number = await db.selectFrom('phone_numbers').select(['internal_id', 'phone_number_id']).where('phone_number_id', '=', w.number.phoneNumberId).executeTakeFirstOrThrow();
    const user = freshUser();
    const record = (wamid: string, text: string) => outboundRecord({ to: user.waId, type: 'text', text: { body: text } }, { messages: [{ id: wamid }] }, wamid, new Date(), '15550001111')!;
    const first = await recorder.record(w.projectId, number, record(`wamid.dup-${process.pid}-a`, 'one'));
    assert.ok(first);
    const results = await Promise.all([
      recorder.record(w.projectId, number, record(`wamid.dup-${process.pid}-b`, 'two')),
      recorder.record(w.projectId, number, record(`wamid.dup-${process.pid}-c`, 'three')),
      recorder.record(w.projectId, number, record(`wamid.dup-${process.pid}-a`, 'one again')),
      recorder.record(w.projectId, number, record(`wamid.dup-${process.pid}-d`, 'four')),
    ]);
    assert.deepEqual(results.map((r) => r !== null), [true, true, false, true]);
    assert.equal(results[3]!.conversationId, first.conversationId, 'the same person, the same conversation');
    const conversation = await db.selectFrom('conversations').select('messages_count').where('id', '=', first.conversationId).executeTakeFirstOrThrow();
    assert.equal(conversation.messages_count, 4);
  });

  test('with the database away a batch is not retried send by send: each send is logged once as not recorded', async () => {
    // Nothing listens on port 1: every statement fails as with a database that went away.
    const pool = createPool('postgres://parley@127.0.0.1:1/parley', { max: 2 });
    const lines: { msg: string; wamid?: string }[] = [];
    const recorder = new OutboundRecorder(createDb(pool), pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) }));
    try {
      const number = { internal_id: '00000000-0000-4000-8000-000000000001', phone_number_id: w.number.phoneNumberId };
      const records = Array.from({ length: 6 }, (_, i) => {
        const user = freshUser();
        const wamid = `wamid.away-${process.pid}-${i}`;
        return outboundRecord({ to: user.waId, type: 'text', text: { body: `away ${i}` } }, { messages: [{ id: wamid }] }, wamid, new Date(), '15550001111')!;
      });
      const results = await Promise.all(records.map((record) => recorder.record(w.projectId, number, record)));
      assert.deepEqual(results, records.map(() => null));
      assert.ok(!lines.some((line) => line.msg.startsWith('a batch of sends could not be recorded together')), 'no one-by-one retry while the database is away');
      const lost = lines.filter((line) => line.msg.startsWith('message accepted by Meta but NOT recorded')).map((line) => line.wamid).sort();
      assert.deepEqual(lost, records.map((r) => r.wamid).sort(), 'each send is reported once');
    } finally {
      await pool.end();
    }
  });
});
