// The API log's writer against a real database: batches written on a timer and when full, rows
// kept through a database error and retried, the bound on the buffer, a refused row isolated,
// close() writing the rest, the dropped-row counter in /metrics, and the 30-day purge.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { errorMessageOf } from '../../src/api-logs/hook.ts';
import { ApiLogRecorder } from '../../src/api-logs/recorder.ts';
import { type ApiLogEntry, insertApiLogs, purgeOldApiLogs } from '../../src/api-logs/repo.ts';
import { createKey } from '../../src/projects/service.ts';
import { startTestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const DAY = 24 * 60 * 60 * 1000;
const silent = pino({ level: 'silent' });

let database: TestDatabase;
let projectId = '';
let otherProjectId = '';

before(async () => {
  database = await createTestDatabase();
  projectId = (await createKey(database.db, 'alpha')).project.id;
  otherProjectId = (await createKey(database.db, 'beta')).project.id;
});
after(async () => database?.drop());
beforeEach(async () => {
  await sql`DELETE FROM api_logs`.execute(database.db);
});

const entry = (endpoint: string, overrides: Partial<ApiLogEntry> = {}): ApiLogEntry => ({
  projectId,
  apiKeyId: null,
  apiKeyName: null,
  createdAt: new Date().toISOString(),
  method: 'GET',
  endpoint,
  statusCode: 200,
  responseTimeMs: 0.5,
  ip: '127.0.0.1',
  errorMessage: null,
  ...overrides,
});

async function storedEndpoints(): Promise<string[]> {
  const rows = await database.db.selectFrom('api_logs').select('endpoint').orderBy('endpoint').execute();
  return rows.map((row) => row.endpoint);
}

/** The table away: every INSERT fails as it would with the database refusing writes. */
const hideTable = () => sql`ALTER TABLE api_logs RENAME TO api_logs_away`.execute(database.db);
const restoreTable = () => sql`ALTER TABLE api_logs_away RENAME TO api_logs`.execute(database.db);

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never happened: ${what}`);
}

test('rows are written by the timer without a flush call, and at once when a batch is full', async () => {
  const timed = new ApiLogRecorder(database.db, silent, { flushMs: 20 });
  timed.record(entry('/timed/1'));
  timed.record(entry('/timed/2'));
  await eventually(async () => (await storedEndpoints()).length === 2, 'the timer wrote the rows');
  await timed.close();

  const full = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000, batchSize: 3 });
  for (let i = 0; i < 3; i++) full.record(entry(`/full/${i}`));
  await eventually(async () => (await storedEndpoints()).filter((e) => e.startsWith('/full/')).length === 3, 'a full batch was written without waiting an hour');
  await full.close();
});

test('a batch the database refuses stays buffered and is written by the next flush', async () => {
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000 });
  await hideTable();
  try {
    for (let i = 0; i < 3; i++) recorder.record(entry(`/retry/${i}`));
    await recorder.flush(); // must not throw
    assert.equal(recorder.buffered, 3);
    recorder.record(entry('/retry/3'));
    await recorder.flush();
    assert.equal(recorder.buffered, 4);
  } finally {
    await restoreTable();
  }
  await recorder.flush();
  assert.equal(recorder.buffered, 0);
  assert.deepEqual(await storedEndpoints(), ['/retry/0', '/retry/1', '/retry/2', '/retry/3']);
  assert.equal(recorder.dropped, 0);
  await recorder.close();
});

test('while writes fail the buffer stays bounded: the oldest rows are dropped and counted', async () => {
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000, batchSize: 2, maxBuffered: 5 });
  await hideTable();
  try {
    for (let i = 0; i < 20; i++) {
      recorder.record(entry(`/bounded/${String(i).padStart(2, '0')}`));
      if (i % 4 === 0) await recorder.flush();
      assert.ok(recorder.buffered <= 5, `buffered ${recorder.buffered}`);
    }
    await recorder.flush(); // settles any write still under way (it fails: its rows come back)
    assert.ok(recorder.dropped > 0);
    assert.equal(recorder.dropped + recorder.buffered, 20);
  } finally {
    await restoreTable();
  }
  await recorder.flush();
  const kept = await storedEndpoints();
  // The newest rows survive, oldest first dropped.
  assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => `/bounded/${String(20 - kept.length + i).padStart(2, '0')}`));
  await recorder.close();
});

test('a row the table refuses is dropped alone; the rest of its batch is written', async () => {
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000 });
  recorder.record(entry('/isolated/before'));
  // A status code beyond smallint: the table refuses this one row (22003).
  recorder.record(entry('/isolated/bad', { statusCode: 70_000 }));
  recorder.record(entry('/isolated/after'));
  await recorder.flush();
  assert.deepEqual(await storedEndpoints(), ['/isolated/after', '/isolated/before']);
  assert.equal(recorder.dropped, 1);
  assert.equal(recorder.buffered, 0);
  await recorder.close();
});

test('close writes what is buffered and takes no more rows', async () => {
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000 });
  recorder.record(entry('/closing/1'));
  await recorder.close();
  assert.deepEqual(await storedEndpoints(), ['/closing/1']);
  recorder.record(entry('/closing/late'));
  assert.equal(recorder.buffered, 0);
});

test('dropped rows are counted in /metrics', async () => {
  // No write is attempted while the requests run: the batch never fills and the timer is an hour away.
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000, batchSize: 1000, maxBuffered: 2 });
  const t = await startTestApp({ database, apiLog: recorder });
  await hideTable();
  try {
    for (let i = 0; i < 5; i++) assert.equal((await t.request({ method: 'GET', url: '/platform/v1/whatsapp/contacts' })).status, 200);
    assert.equal(recorder.dropped, 3);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /^parley_api_log_dropped_rows_total 3$/m);
    // A second scrape does not count the same drops again.
    const again = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(again.body, /^parley_api_log_dropped_rows_total 3$/m);
  } finally {
    await restoreTable();
    await t.close();
    await recorder.close();
  }
});

test('the purge removes rows older than 30 days, of every project, in chunks', async () => {
  const now = Date.now();
  const aged = (endpoint: string, ageMs: number, project = projectId) => entry(endpoint, { createdAt: new Date(now - ageMs).toISOString(), projectId: project });
  await insertApiLogs(database.db, [
    aged('/purge/old-1', 31 * DAY),
    aged('/purge/old-2', 45 * DAY),
    aged('/purge/old-3', 90 * DAY, otherProjectId),
    aged('/purge/old-4', 30 * DAY + 60_000, otherProjectId),
    aged('/purge/young-1', 29 * DAY),
    aged('/purge/young-2', 0),
  ]);
  assert.equal(await purgeOldApiLogs(database.db, new Date(now), 2), 4);
  assert.deepEqual(await storedEndpoints(), ['/purge/young-1', '/purge/young-2']);
  assert.equal(await purgeOldApiLogs(database.db, new Date(now), 2), 0);
});

test('the error message is read from both error shapes, and from nothing else', () => {
  assert.equal(errorMessageOf('{"error":"Contact not found"}'), 'Contact not found');
  assert.equal(errorMessageOf(Buffer.from('{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}')), '(#100) Invalid parameter');
  assert.equal(errorMessageOf('{"error":{"code":1}}'), null);
  assert.equal(errorMessageOf('not json'), null);
  assert.equal(errorMessageOf('null'), null);
  assert.equal(errorMessageOf(undefined), null);
  assert.equal(errorMessageOf(`{"error":"${'x'.repeat(70_000)}"}`), null);
});

test('row ids are UUIDv7 of the request time: version 7, ordered by time, distinct within a millisecond', async () => {
  const recorder = new ApiLogRecorder(database.db, silent, { flushMs: 60 * 60 * 1000 });
  const times = ['2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.001Z', '2026-03-02T00:00:00.000Z'];
  times.forEach((createdAt, i) => recorder.record(entry(`/v7/${i}`, { createdAt })));
  await recorder.flush();
  const rows = await database.db.selectFrom('api_logs').select(['id', 'endpoint', 'created_at']).where('endpoint', 'like', '/v7/%').orderBy('endpoint').execute();
  assert.equal(rows.length, 4);
  for (const [i, row] of rows.entries()) {
    assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, row.id);
    // The first 48 bits are the request's epoch milliseconds.
    assert.equal(parseInt(row.id.replace(/-/g, '').slice(0, 12), 16), Date.parse(times[i]!), row.id);
  }
  assert.notEqual(rows[0]!.id, rows[1]!.id);
  await recorder.close();
});
