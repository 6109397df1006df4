// DELETE /whatsapp/contacts/{identifier}: hidden at once, erased for good by a durable job that
// survives a restart and a crashed worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { createDb, createPool } from '../../src/db/connection.ts';
import { jobRegistry } from '../../src/jobs/registry.ts';
import { claimDueJobs } from '../../src/jobs/repo.ts';
import { JobRunner } from '../../src/jobs/runner.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import type { TestDatabase } from '../helpers/db.ts';

const BASE = '/platform/v1/whatsapp/contacts';
const NOT_FOUND = { error: 'Contact not found' };
const logger = pino({ level: 'silent' });
let t: TestApp;

before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

const runnerFor = (db = t.database.db) => new JobRunner(db, jobRegistry(db), logger, { pollMs: 50 });

async function create(wa_id: string, app: TestApp = t): Promise<{ id: string; wa_id: string; created_at: string }> {
  const res = await app.request({ method: 'POST', url: BASE, body: { contact: { wa_id, profile_name: 'To erase', metadata: { a: 1 } } } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

const row = (id: string) => t.database.db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
const jobsFor = (id: string) =>
  t.database.db.selectFrom('jobs').selectAll().where('kind', '=', 'contact.erase').where(sql<string>`payload->>'contact_id'`, '=', id).execute();

/** Another "process" on the same database: its own pool and app, as after a restart. */
async function instance(): Promise<{ app: TestApp; database: TestDatabase; stop(): Promise<void> }> {
  const pool = createPool(t.database.url, { max: 4 });
  const database: TestDatabase = { ...t.database, pool, db: createDb(pool), drop: async () => undefined };
  const app = await startTestApp({ database });
  return { app, database, stop: async () => { await app.close(); await database.db.destroy(); } };
}

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached in time');
}

test('DELETE answers 204 with an empty body; the contact is invisible everywhere at once', async () => {
  const c = await create('+1 555 700 0001');
  const keep = await create('+1 555 700 0002');
  const res = await t.request({ method: 'DELETE', url: `${BASE}/${c.id}` });
  assert.equal(res.status, 204);
  assert.equal(res.text, '');

  for (const identifier of [c.id, '15557000001', '%2B1%20555%20700%200001']) {
    const got = await t.request({ method: 'GET', url: `${BASE}/${identifier}` });
    assert.equal(got.status, 404, identifier);
    assert.deepEqual(got.body, NOT_FOUND);
  }
  const patched = await t.request({ method: 'PATCH', url: `${BASE}/${c.id}`, body: { contact: { display_name: 'ghost' } } });
  assert.equal(patched.status, 404);
  assert.deepEqual(patched.body, NOT_FOUND);
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${c.id}` })).status, 404);

  const cursor = await t.request({ method: 'GET', url: `${BASE}?limit=100` });
  assert.ok(!cursor.body.data.some((x: { id: string }) => x.id === c.id));
  assert.ok(cursor.body.data.some((x: { id: string }) => x.id === keep.id));
  const offset = await t.request({ method: 'GET', url: `${BASE}?page=1&per_page=100` });
  assert.ok(!offset.body.data.some((x: { id: string }) => x.id === c.id));
  assert.equal(offset.body.meta.total_count, offset.body.data.length);
  assert.equal((await t.request({ method: 'GET', url: `${BASE}?wa_id_contains=15557000001` })).body.data.length, 0);

  // Durably queued: the row is marked and a job waits for it, in the same commit.
  const stored = await row(c.id);
  assert.ok(stored?.erased_at, 'the row is marked, not yet deleted');
  const jobs = await jobsFor(c.id);
  assert.equal(jobs.length, 1);
  assert.deepEqual(jobs[0]!.payload, { contact_id: c.id });
});

test('the same number can be created again right away, and the erase job leaves the new contact alone', async () => {
  const first = await create('+44 7700 900555');
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/%2B447700900555` })).status, 204);
  const again = await create('447700900555');
  assert.notEqual(again.id, first.id);
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/447700900555` })).body.data.id, again.id);

  const ran = await runnerFor().pass();
  assert.ok(ran >= 1);
  assert.equal(await row(first.id), undefined, 'the erased row is gone');
  assert.deepEqual(await jobsFor(first.id), []);
  const survivor = await t.request({ method: 'GET', url: `${BASE}/447700900555` });
  assert.equal(survivor.status, 200);
  assert.equal(survivor.body.data.id, again.id);
  assert.deepEqual(survivor.body.data.metadata, { a: 1 });
  // Erased twice in a row: two rows marked, two jobs, both numbers free.
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${again.id}` })).status, 204);
  const third = await create('447700900555');
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${third.id}` })).status, 204);
  await runnerFor().pass();
  assert.equal(await row(again.id), undefined);
  assert.equal(await row(third.id), undefined);
});

test('the erase job deletes the row for good; running the queue again is a no-op', async () => {
  const c = await create('+1 555 700 0003');
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/15557000003` })).status, 204);
  assert.ok(await row(c.id));
  const runner = runnerFor();
  assert.ok((await runner.pass()) >= 1);
  assert.equal(await row(c.id), undefined);
  assert.deepEqual(await jobsFor(c.id), []);
  assert.equal(await runner.pass(), 0);
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/${c.id}` })).status, 404);
});

test('a contact erased by BSUID frees the BSUID for a new contact', async () => {
  const project = await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow();
  const insert = () => t.database.db.insertInto('contacts').values({ project_id: project.id, business_scoped_user_id: 'US.424242' }).returning('id').executeTakeFirstOrThrow();
  const first = await insert();
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/US.424242` })).status, 204);
  const second = await insert();
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/US.424242` })).body.data.id, second.id);
  await runnerFor().pass();
  assert.equal(await row(first.id), undefined);
  assert.ok(await row(second.id));
});

test('a job queued before a restart completes afterwards', async () => {
  // First process: erases and goes away before any runner saw the job.
  const one = await instance();
  const c = await create('+1 555 700 0004', one.app);
  assert.equal((await one.app.request({ method: 'DELETE', url: `${BASE}/${c.id}` })).status, 204);
  await one.stop();
  assert.equal((await jobsFor(c.id)).length, 1, 'the job outlives the process');
  assert.ok((await row(c.id))?.erased_at);

  // Second process: a new app and a running runner on the same database.
  const two = await instance();
  try {
    assert.equal((await two.app.request({ method: 'GET', url: `${BASE}/${c.id}` })).status, 404, 'still invisible after the restart');
    const runner = runnerFor(two.database.db);
    runner.start();
    try {
      await waitFor(async () => (await row(c.id)) === undefined);
    } finally {
      await runner.stop();
    }
    assert.deepEqual(await jobsFor(c.id), []);
  } finally {
    await two.stop();
  }
});

test('a job claimed by a crashed worker waits out its lease, then is reclaimed', async () => {
  const c = await create('+1 555 700 0005');
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${c.id}` })).status, 204);
  // A worker claims the job and dies without finishing it.
  const claimed = await claimDueJobs(t.database.db, ['contact.erase'], 100, 300);
  assert.ok(claimed.some((j) => (j.payload as { contact_id: string }).contact_id === c.id));
  const [job] = await jobsFor(c.id);
  assert.equal(job!.attempts, 1);
  assert.ok(job!.locked_until);

  const runner = runnerFor();
  assert.equal(await runner.pass(), 0, 'a live lease is respected');
  assert.ok(await row(c.id), 'nothing erased while the lease holds');

  await t.database.db.updateTable('jobs').set({ locked_until: new Date(Date.now() - 1000).toISOString() }).where('id', '=', job!.id).execute();
  assert.equal(await runner.pass(), 1);
  assert.equal(await row(c.id), undefined);
  assert.deepEqual(await jobsFor(c.id), []);
});

test('If-Match on DELETE: a stale or foreign tag → 412 and nothing happens; the current tag → 204', async () => {
  const c = await create('+1 555 700 0006');
  const got = await t.request({ method: 'GET', url: `${BASE}/${c.id}` });
  const etag = String(got.headers.etag);
  assert.match(etag, /^"[^"]+"$/);
  const patched = await t.request({ method: 'PATCH', url: `${BASE}/${c.id}`, body: { contact: { display_name: 'changed' } } });
  assert.notEqual(patched.headers.etag, etag);

  for (const header of [etag, '"something-else"', `W/${etag}`, `"${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.1"`]) {
    const res = await t.request({ method: 'DELETE', url: `${BASE}/${c.id}`, headers: { 'if-match': header } });
    assert.equal(res.status, 412, header);
    assert.equal(typeof res.body.error, 'string');
  }
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/${c.id}` })).status, 200, 'still there');
  assert.deepEqual(await jobsFor(c.id), [], 'nothing queued');

  const res = await t.request({ method: 'DELETE', url: `${BASE}/15557000006`, headers: { 'if-match': `${etag}, ${String(patched.headers.etag)}` } });
  assert.equal(res.status, 204);
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/${c.id}` })).status, 404);
});

test('If-Match on an unknown or erased contact is 404, not 412; If-Match: * erases', async () => {
  const c = await create('+1 555 700 0007');
  const etag = String((await t.request({ method: 'GET', url: `${BASE}/${c.id}` })).headers.etag);
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/${c.id}`, headers: { 'if-match': '*' } })).status, 204);
  const res = await t.request({ method: 'DELETE', url: `${BASE}/${c.id}`, headers: { 'if-match': etag } });
  assert.equal(res.status, 404);
  assert.deepEqual(res.body, NOT_FOUND);
});

test('the other project cannot erase the contact', async () => {
  const c = await create('+1 555 700 0008');
  const res = await t.request({ method: 'DELETE', url: `${BASE}/${c.id}`, key: t.otherKey });
  assert.equal(res.status, 404);
  assert.equal((await t.request({ method: 'DELETE', url: `${BASE}/15557000008`, key: t.otherKey })).status, 404);
  assert.equal((await t.request({ method: 'GET', url: `${BASE}/${c.id}` })).status, 200);
  assert.equal((await row(c.id))?.erased_at, null);
});
