// Several inbound loops on one database, sharing the queue by sender lanes: per-sender order is
// kept, nothing is processed twice or lost, a poison body is still set aside, and bodies stored
// before migration 0012 (no lane) are processed too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { createDb, createPool } from '../../src/db/connection.ts';
import type { Database } from '../../src/db/schema.ts';
import { countPendingEvents } from '../../src/meta-inbound/events-repo.ts';
import { laneOf, SENDER_LANES } from '../../src/meta-inbound/sender-lane.ts';
import { MetaEventWorker } from '../../src/meta-inbound/worker.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type ConnectedNumber, connectNumber, deliver, freshUser, silentLogger, statusBody, textBody } from '../helpers/meta.ts';

let t: TestApp;
let number: ConnectedNumber;
let dbs: Kysely<Database>[] = [];
before(async () => {
  t = await startTestApp();
  number = await connectNumber(t);
  // Separate pools: as loops on different nodes would be.
  dbs = [0, 1, 2].map(() => createDb(createPool(t.database.url, { max: 3 })));
  // The test's witness, in the database itself: every inbound message insert takes a try-lock
  // on its contact (held to commit) and fails when another open transaction holds it, i.e.
  // when two loops process the same sender at once; and it logs the insert order.
  await sql`CREATE TABLE test_ingest_log (seq bigserial PRIMARY KEY, contact_id uuid NOT NULL, wamid text NOT NULL)`.execute(t.database.db);
  await sql`
    CREATE FUNCTION test_one_sender_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT pg_try_advisory_xact_lock(4242, hashtext(NEW.contact_id::text)) THEN
        RAISE EXCEPTION 'two transactions hold sender %', NEW.contact_id;
      END IF;
      -- A redelivery's insert finds its wamid stored and does nothing: not logged.
      IF EXISTS (SELECT 1 FROM messages WHERE project_id = NEW.project_id AND wamid = NEW.wamid) THEN
        RETURN NEW;
      END IF;
      INSERT INTO test_ingest_log (contact_id, wamid) VALUES (NEW.contact_id, NEW.wamid);
      RETURN NEW;
    END $$`.execute(t.database.db);
  await sql`CREATE TRIGGER test_one_sender_at_a_time BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.direction = 'inbound') EXECUTE FUNCTION test_one_sender_at_a_time()`.execute(
    t.database.db,
  );
});
after(async () => {
  for (const db of dbs) await db.destroy();
  await t?.close();
});

const at = (i: number) => new Date(Date.now() - 3_600_000 + i * 1000);

/** Runs the loops together until the queue is empty (failed bodies' retries made due at once). */
async function runLoops(loops: MetaEventWorker[]): Promise<number[]> {
  const handled = loops.map(() => 0);
  for (let round = 0; round < 10 && (await countPendingEvents(t.database.db)) > 0; round += 1) {
    const counts = await Promise.all(loops.map((loop) => loop.drain()));
    counts.forEach((count, i) => (handled[i]! += count));
    await sql`UPDATE meta_events SET next_attempt_at = now() WHERE state = 'pending'`.execute(t.database.db);
  }
  return handled;
}

test('laneOf: one lane per user, none for several users or none', () => {
  const a = freshUser();
  const b = freshUser();
  const one = textBody(number.phoneNumberId, a).body;
  const lane = laneOf(one);
  assert.ok(lane !== null && lane >= 0 && lane < SENDER_LANES);
  assert.equal(laneOf(textBody(number.phoneNumberId, a).body), lane, 'the same user, the same lane');
  assert.equal(laneOf(statusBody(number.phoneNumberId, 'read', { wamid: 'wamid.x', waId: a.waId, at: new Date() })), lane, "a status goes in its recipient's lane");
  assert.equal(laneOf(mixedBody([a, b], 0).body), null, 'two users: mixed');
  assert.equal(laneOf({ object: 'whatsapp_business_account', entry: [] }), null);
  assert.equal(laneOf({ entry: [{ changes: [{ field: 'account_update', value: {} }] }] }), null);
  assert.equal(laneOf('not an object'), null);
  assert.equal(laneOf(null), null);
});

/** One body with a message from each of `users` (Meta may batch several senders). */
function mixedBody(users: { waId: string; bsuid: string }[], i: number) {
  const parts = users.map((user, u) => textBody(number.phoneNumberId, { ...user, text: `mixed ${i}.${u}`, timestamp: at(i) }));
  const body = parts[0]!.body as { entry: { changes: { value: { contacts: unknown[]; messages: unknown[] } }[] }[] };
  for (const part of parts.slice(1)) {
    const value = (part.body as typeof body).entry[0]!.changes[0]!.value;
    body.entry[0]!.changes[0]!.value.contacts.push(...value.contacts);
    body.entry[0]!.changes[0]!.value.messages.push(...value.messages);
  }
  return { body, wamids: parts.map((p) => p.wamid) };
}

test('three loops on separate pools: per-sender order kept, nothing twice, nothing lost, the poison body set aside', async () => {
  const users = Array.from({ length: 12 }, () => freshUser());
  const order = new Map<string, string[]>(users.map((u) => [u.waId, []]));
  let poison = '';
  for (let i = 0; i < 240; i += 1) {
    const user = users[i % users.length]!;
    if (i % 40 === 17) {
      // A body of two users, among their single ones.
      const other = users[(i + 5) % users.length]!;
      const mixed = mixedBody([user, other], i);
      order.get(user.waId)!.push(mixed.wamids[0]!);
      order.get(other.waId)!.push(mixed.wamids[1]!);
      await deliver(t, mixed.body);
    } else if (i === 101) {
      // A time no date can hold: fails on every attempt, in its sender's lane.
      const bad = textBody(number.phoneNumberId, { ...user, timestamp: '1e20' });
      poison = bad.wamid;
      await deliver(t, bad.body);
    } else {
      const body = textBody(number.phoneNumberId, { ...user, text: `message ${i}`, timestamp: at(i) });
      order.get(user.waId)!.push(body.wamid);
      await deliver(t, body.body);
      // A redelivery now and then: stored once more, processed as a no-op.
      if (i % 31 === 0) await deliver(t, body.body);
    }
  }
  const stored = await countPendingEvents(t.database.db);
  const loops = dbs.map((db, index) => new MetaEventWorker(db, silentLogger, { pollMs: 50, batchSize: 9, retrySeconds: [0], loop: { index, of: dbs.length } }));
  const handled = await runLoops(loops);
  assert.ok(handled.filter((n) => n > 0).length >= 2, `several loops took part: ${handled.join(', ')}`);

  const db = t.database.db;
  const states = await db.selectFrom('meta_events').select(['state', 'attempts', 'note', 'body']).execute();
  assert.equal(states.length, stored);
  const failed = states.filter((s) => s.state === 'failed');
  assert.equal(failed.length, 1, 'only the poison body failed');
  assert.ok(failed[0]!.body.includes(poison));
  assert.equal(failed[0]!.attempts, 5);
  assert.ok(!failed[0]!.note?.includes('two transactions hold sender'), failed[0]!.note ?? '');
  assert.equal(states.filter((s) => s.state === 'processed').length, stored - 1);
  assert.deepEqual(
    states.filter((s) => s.state === 'processed' && s.attempts > 0).map((s) => s.note),
    [],
    'no processed body needed a second attempt (no sender was held by two loops)',
  );

  const log = await sql<{ wa_id: string; wamid: string }>`
    SELECT c.wa_id, l.wamid FROM test_ingest_log l JOIN contacts c ON c.id = l.contact_id ORDER BY l.seq`.execute(db);
  const seen = new Map<string, string[]>();
  for (const row of log.rows) seen.set(row.wa_id, [...(seen.get(row.wa_id) ?? []), row.wamid]);
  for (const user of users) assert.deepEqual(seen.get(user.waId), order.get(user.waId), `messages of ${user.waId} stored once each, in the order received`);
  const counts = await db.selectFrom('conversations').select(['contact_id', 'messages_count']).where('phone_number_id', '=', number.phoneNumberId).execute();
  assert.equal(counts.length, users.length);
  assert.equal(
    counts.reduce((sum, c) => sum + c.messages_count, 0),
    [...order.values()].reduce((sum, list) => sum + list.length, 0),
  );
});

test('bodies stored before migration 0012 (no lane) are processed by lane loops too, in order', async () => {
  const db = t.database.db;
  await sql`DELETE FROM meta_events`.execute(db);
  const user = freshUser();
  const wamids: string[] = [];
  for (let i = 0; i < 30; i += 1) {
    const body = textBody(number.phoneNumberId, { ...user, text: `old ${i}`, timestamp: at(1000 + i) });
    wamids.push(body.wamid);
    // As an older node stored them: no lane.
    await db.insertInto('meta_events').values({ body: JSON.stringify(body.body) }).execute();
    // Interleaved with new bodies of another user, which do have one.
    await deliver(t, textBody(number.phoneNumberId, { ...freshUser(), timestamp: at(1000 + i) }).body);
  }
  const lanes = await db.selectFrom('meta_events').select('lane').execute();
  assert.equal(lanes.filter((l) => l.lane === null).length, 30);
  const loops = dbs.slice(0, 2).map((d, index) => new MetaEventWorker(d, silentLogger, { pollMs: 50, batchSize: 7, loop: { index, of: 2 } }));
  await runLoops(loops);
  const states = await db.selectFrom('meta_events').select(['state']).execute();
  assert.deepEqual([...new Set(states.map((s) => s.state))], ['processed']);
  assert.equal(states.length, 60);
  const log = await sql<{ wamid: string }>`SELECT l.wamid FROM test_ingest_log l JOIN contacts c ON c.id = l.contact_id WHERE c.wa_id = ${user.waId} ORDER BY l.seq`.execute(db);
  assert.deepEqual(log.rows.map((r) => r.wamid), wamids);
});
