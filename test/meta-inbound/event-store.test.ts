// Storing Meta webhook bodies: requests that arrive together share INSERTs, yet each one is
// answered only once its own body is committed, every body is stored exactly once, and a
// failed INSERT fails the requests whose bodies it held (Meta then delivers them again).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventStore } from '../../src/meta-inbound/event-store.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => database?.drop());

const stored = async () => (await database.db.selectFrom('meta_events').select('body').orderBy('id').execute()).map((r) => r.body);

test('300 bodies stored at once: each promise resolves after its commit, each body is stored once', async () => {
  await database.db.deleteFrom('meta_events').execute();
  const store = new EventStore(database.db, { concurrency: 2, maxBodies: 40 });
  const bodies = Array.from({ length: 300 }, (_, i) => JSON.stringify({ n: i }));
  await Promise.all(
    bodies.map(async (body) => {
      await store.store(body);
      const row = await database.db.selectFrom('meta_events').select('id').where('body', '=', body).executeTakeFirst();
      assert.ok(row, `${body} is committed when its promise resolves`);
    }),
  );
  // Two INSERTs run at a time, so ids need not follow arrival order (concurrent requests have none).
  assert.deepEqual((await stored()).sort(), [...bodies].sort());
});

test('a body over the per-INSERT size limit is stored on its own', async () => {
  await database.db.deleteFrom('meta_events').execute();
  const store = new EventStore(database.db, { concurrency: 1, maxChars: 10 });
  const bodies = ['{"a":1}', `{"big":"${'x'.repeat(50)}"}`, '{"b":2}'];
  await Promise.all(bodies.map((b) => store.store(b)));
  assert.deepEqual(await stored(), bodies);
});

test('when an INSERT fails, the requests of that INSERT fail and later ones are stored', async () => {
  await database.db.deleteFrom('meta_events').execute();
  const store = new EventStore(database.db, { concurrency: 1 });
  // PostgreSQL text cannot hold NUL (the route refuses such bodies before they get here).
  const results = await Promise.allSettled([store.store('{"ok":1}'), store.store('{"bad":"\u0000"}'), store.store('{"ok":2}')]);
  assert.equal(results[0]!.status, 'fulfilled');
  // The first body went alone (nothing was waiting); the other two shared the failed INSERT.
  assert.deepEqual(results.slice(1).map((r) => r.status), ['rejected', 'rejected']);
  await store.store('{"ok":3}');
  assert.deepEqual(await stored(), ['{"ok":1}', '{"ok":3}']);
});
