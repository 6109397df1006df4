// The job runner on a real database: a job whose failure cannot be stored as thrown (its error
// quotes a NUL) is still retried with backoff and then parked as failed with its error readable,
// and the jobs claimed with it, and after it, run; a job whose runs never come back is given up;
// a run that outlives its lease fails its attempt.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { enqueueJob } from '../../src/jobs/repo.ts';
import { type JobRegistry, JobRunner } from '../../src/jobs/runner.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let database: TestDatabase;

before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database?.drop();
});

const jobsOf = (kind: string) => database.db.selectFrom('jobs').selectAll().where('kind', '=', kind).orderBy('created_at').execute();
/** Makes every waiting job due now, instead of after its backoff. */
const dueNow = () => sql`UPDATE jobs SET run_at = now() WHERE failed_at IS NULL`.execute(database.db);

test('a job whose error cannot be stored as thrown is retried, then parked as failed with its error; the other jobs run', async () => {
  const ran: string[] = [];
  const registry: JobRegistry = {
    'test.poison': { maxAttempts: 2, run: async () => { throw new Error('remote said: bad\u0000byte'); } },
    'test.fine': { maxAttempts: 2, run: async (payload) => { ran.push(String((payload as { n: number }).n)); } },
  };
  await enqueueJob(database.db, 'test.poison', {});
  await enqueueJob(database.db, 'test.fine', { n: 1 });
  const runner = new JobRunner(database.db, registry, silent, { pollMs: 50, batchSize: 10 });

  await runner.drain();
  assert.deepEqual(ran, ['1'], 'the job claimed with the failing one ran');
  const [waiting] = await jobsOf('test.poison');
  assert.equal(waiting!.attempts, 1);
  assert.equal(waiting!.failed_at, null, 'one attempt left');
  assert.equal(waiting!.locked_until, null, 'released for its retry');
  assert.equal(waiting!.last_error, 'remote said: badbyte', 'the error is stored without the NUL');
  assert.ok(new Date(waiting!.run_at).getTime() > Date.now(), 'the retry waits (backoff)');

  await enqueueJob(database.db, 'test.fine', { n: 2 });
  await dueNow();
  await runner.drain();
  assert.deepEqual(ran, ['1', '2'], 'a later job ran');
  const [parked] = await jobsOf('test.poison');
  assert.equal(parked!.attempts, 2);
  assert.ok(parked!.failed_at, 'parked as failed after its last attempt');
  assert.equal(parked!.last_error, 'remote said: badbyte');
  await dueNow();
  await runner.drain();
  assert.equal((await jobsOf('test.poison'))[0]!.attempts, 2, 'a failed job is not claimed again');
});

test('a job past its last attempt whose runs never ended (lease ran out) is parked without running again', async () => {
  let runs = 0;
  const registry: JobRegistry = { 'test.stuck': { maxAttempts: 3, run: async () => { runs += 1; } } };
  await enqueueJob(database.db, 'test.stuck', {});
  // As left by three claims whose worker died each time.
  await sql`UPDATE jobs SET attempts = 3, locked_until = now() - interval '1 second' WHERE kind = 'test.stuck'`.execute(database.db);
  const runner = new JobRunner(database.db, registry, silent, { pollMs: 50 });
  await runner.drain();
  assert.equal(runs, 0);
  const [job] = await jobsOf('test.stuck');
  assert.ok(job!.failed_at);
  assert.match(String(job!.last_error), /ended without a result/);
});

test('a job whose run never ends fails its attempt when the lease runs out; the jobs behind it run', { timeout: 20_000 }, async () => {
  const ran: number[] = [];
  const registry: JobRegistry = {
    'test.hang': { maxAttempts: 1, run: () => new Promise<void>(() => undefined) },
    'test.after-hang': { maxAttempts: 1, run: async (payload) => { ran.push((payload as { n: number }).n); } },
  };
  await enqueueJob(database.db, 'test.hang', {});
  await enqueueJob(database.db, 'test.after-hang', { n: 1 });
  const runner = new JobRunner(database.db, registry, silent, { pollMs: 50, batchSize: 10, leaseSeconds: 1 });
  await runner.drain();
  assert.deepEqual(ran, [1], 'the job behind the hanging one ran');
  const [hung] = await jobsOf('test.hang');
  assert.ok(hung!.failed_at, 'its only attempt failed');
  assert.match(String(hung!.last_error), /longer than the job's lease of 1 s/);
});
