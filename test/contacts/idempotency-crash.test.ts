// Idempotency-Key across a crash: a real `parley serve` is killed (SIGKILL) while it writes the
// idempotency record of a create. A trigger on idempotency_keys makes that write wait on an
// advisory lock this test holds, so the kill lands exactly between the create and its record.
// Whatever the server had done by then, a retry with the same key after a restart must answer
// the create's 201 with its ETag, and there must be exactly one contact.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createKey } from '../../src/projects/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, freePort, type ServerProcess, startParley, stopParley, waitFor } from '../helpers/process.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const HOLD = 727_999;

let database: TestDatabase;
let apiKey: string;
let holder: pg.Client;

before(async () => {
  database = await createTestDatabase();
  apiKey = (await createKey(database.db, 'alpha')).key;
  holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
});
after(async () => {
  await holder?.end();
  await cleanupProcesses();
  await database?.drop();
});

async function hold(): Promise<void> {
  await holder.query(`
    CREATE FUNCTION test_hold_idempotency_record() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(${HOLD}); RETURN NEW; END $$`);
  await holder.query(`
    CREATE TRIGGER test_hold BEFORE INSERT OR UPDATE ON idempotency_keys
    FOR EACH ROW WHEN (NEW.state = 'done') EXECUTE FUNCTION test_hold_idempotency_record()`);
  await holder.query('SELECT pg_advisory_lock($1)', [HOLD]);
}

/** Whether a backend of the server waits for the held lock (it is inside the record's write). */
async function serverIsHeld(): Promise<boolean> {
  const { rows } = await holder.query(
    `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1 AND a.datname = current_database()`,
    [HOLD],
  );
  return rows.length > 0;
}

/** What PostgreSQL does when the client of a backend is gone: the backend ends, its open transaction rolls back. */
async function endServerBackends(): Promise<void> {
  await holder.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  await waitFor(async () => (await holder.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows[0].n === 0, 'the killed server\'s backends to end');
  await holder.query('SELECT pg_advisory_unlock($1)', [HOLD]);
  await holder.query('DROP TRIGGER test_hold ON idempotency_keys');
  await holder.query('DROP FUNCTION test_hold_idempotency_record()');
}

function create(server: ServerProcess, key: string, contact: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.url}${CONTACTS}`, {
    method: 'POST',
    signal,
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'idempotency-key': key, connection: 'close' },
    body: JSON.stringify({ contact }),
  });
}

test('a server killed between a create and its idempotency record: the retry answers 201 with the ETag, one contact exists', async () => {
  const env = { DATABASE_URL: database.url, PORT: String(await freePort()) };
  let server = await startParley(env);
  const contact = { wa_id: '+1 555 071 0001', profile_name: 'Crash' };
  const key = 'crash-retry-1';

  await hold();
  const doomed = create(server, key, contact).catch((error: unknown) => error);
  await waitFor(serverIsHeld, 'the server to reach the idempotency record');

  // While the first request is in progress, the same key is refused at once (checked at the end).
  const concurrent = await create(server, key, contact, AbortSignal.timeout(5_000)).then(
    async (r) => `${r.status} ${await r.text()}`,
    (error: unknown) => String(error),
  );

  server.child.kill('SIGKILL');
  assert.equal((await server.exited).signal, 'SIGKILL');
  assert.ok((await doomed) instanceof Error, 'the first request got no answer');
  await endServerBackends();

  server = await startParley(env);
  const retry = await create(server, key, contact);
  const text = await retry.text();
  assert.equal(retry.status, 201, text);
  const etag = retry.headers.get('etag');
  assert.match(etag ?? '', /^"[^"]+"$/, `the 201 carries an ETag: ${etag}`);
  const created = JSON.parse(text).data;

  const { rows } = await holder.query("SELECT id FROM contacts WHERE wa_id = '15550710001'");
  assert.deepEqual(rows.map((r) => r.id), [created.id], 'exactly one contact, the one answered');
  const current = await fetch(`${server.url}${CONTACTS}/${created.id}`, { headers: { 'x-api-key': apiKey, connection: 'close' } });
  assert.equal(current.status, 200);
  assert.equal(current.headers.get('etag'), etag, 'the ETag names the stored contact');

  // And from now on the key replays that answer, ETag included.
  const replay = await create(server, key, contact);
  assert.equal(replay.status, 201);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.headers.get('etag'), etag);
  assert.deepEqual((await replay.json()).data, created);
  await stopParley(server);
  assert.match(concurrent, /^409 .*still in progress/, 'a second request while the first runs');
});
