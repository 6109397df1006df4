// The embedded PostgreSQL seen from outside: real `parley serve` processes on one data
// directory, started, stopped, killed and restarted in sequence (the tests share state and
// run in order).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import {
  awaitListening,
  cleanupProcesses,
  embeddedUrl,
  freePort,
  isAlive,
  livePostmaster,
  makeDataDir,
  request,
  runParley,
  type ServerProcess,
  spawnParley,
  startParley,
  stopParley,
  waitFor,
  waitForExit,
} from '../helpers/process.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';

let dataDir: string;
let port: number;
let key: string;
let contactId: string;
let server: ServerProcess | null = null;

const env = () => ({ PARLEY_DATA_DIR: dataDir, PORT: String(port) });
const owner = () => JSON.parse(fs.readFileSync(path.join(dataDir, 'owner.json'), 'utf8')) as { pid: number; role: string };

before(async () => {
  dataDir = makeDataDir();
  port = await freePort();
});
after(cleanupProcesses);

async function assertContactKept(url: string): Promise<void> {
  const got = await request(`${url}${CONTACTS}/%2B15551234567`, { key });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.data.id, contactId);
}

test('two serves started at once on an empty data dir: one initialises PostgreSQL and prints the key once, the other exits 1', async (t) => {
  assert.equal(fs.existsSync(dataDir), false);
  const rival = await freePort();
  const procs = [spawnParley(['serve'], env()), spawnParley(['serve'], { ...env(), PORT: String(rival) })];
  const started = await Promise.all(procs.map((proc) => awaitListening(proc).catch(() => null)));
  const up = started.filter((s): s is ServerProcess => s !== null);
  assert.equal(up.length, 1, procs.map((p) => p.stdout() + p.stderr()).join('\n---\n'));
  server = up[0]!;
  const loser = procs.find((proc) => proc.child !== server!.child)!;
  const lost = await loser.exited;
  assert.equal(lost.code, 1, loser.stderr());
  assert.match(loser.stderr(), /^parley: \S.*\n$/, 'one clear line');
  t.diagnostic(`the other one said: ${loser.stderr().trim()}`);
  if (server.url !== `http://127.0.0.1:${port}`) port = rival; // later starts reuse the winner's port

  assert.ok(server.firstKey, `no key on stdout:\n${server.stdout()}`);
  key = server.firstKey;
  assert.equal(server.stdout().split(key).length - 1, 2, 'the key is shown in the message and the curl example only');
  assert.match(server.stdout(), /Created project "default"/);
  assert.doesNotMatch(loser.stdout(), /prl_/);
  assert.ok(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION')));
  assert.deepEqual(fs.readdirSync(dataDir).filter((name) => name.includes('.init-') || name.includes('pg-password.')), [], 'no staging leftovers');
  assert.ok(livePostmaster(dataDir), 'a postmaster runs');
  assert.deepEqual(owner(), { pid: server.child.pid, role: 'server' });

  const listed = await request(`${server.url}${CONTACTS}`, { key });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.data, []);
  assert.equal((await request(`${server.url}${CONTACTS}`)).status, 401);
  assert.equal((await request(`${server.url}${CONTACTS}`, { key: key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A') })).status, 401);

  const created = await request(`${server.url}${CONTACTS}`, { method: 'POST', key, body: { contact: { wa_id: '+1 555-123-4567' } } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.data.wa_id, '15551234567');
  contactId = created.body.data.id;
});

test('SIGTERM stops gracefully: exit 0 and the postmaster is gone', async () => {
  const pm = livePostmaster(dataDir);
  assert.ok(pm);
  const exit = await stopParley(server!, 'SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, server!.stderr());
  assert.match(server!.stdout(), /"msg":"Parley stopped"/);
  assert.equal(await waitForExit(pm), true, 'the postmaster process is gone');
  assert.equal(livePostmaster(dataDir), null, 'no live pid in pg/postmaster.pid');
  assert.equal(fs.existsSync(path.join(dataDir, 'owner.json')), false);
  server = null;
});

test('restart keeps the data and prints no new key', async () => {
  server = await startParley(env());
  assert.equal(server.firstKey, null, server.stdout());
  assert.doesNotMatch(server.stdout(), /Created project|prl_/);
  await assertContactKept(server.url);
});

test('kill -9 of the server leaves the postmaster running; the next serve adopts it', async () => {
  const pm = livePostmaster(dataDir);
  assert.ok(pm);
  const exit = await stopParley(server!, 'SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(isAlive(pm), true, 'the postmaster outlives a killed server');
  assert.equal(livePostmaster(dataDir), pm);

  server = await startParley(env());
  assert.match(server.stdout(), /adopting an embedded PostgreSQL/);
  assert.equal(server.firstKey, null);
  assert.equal(livePostmaster(dataDir), pm, 'the running postmaster is reused, not replaced');
  assert.deepEqual(owner(), { pid: server.child.pid, role: 'server' });
  await assertContactKept(server.url);
});

test('a second serve on the same data dir exits non-zero with a clear message', async () => {
  const pm = livePostmaster(dataDir);
  const second = await runParley(['serve'], { ...env(), PORT: String(await freePort()) });
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, new RegExp(`another Parley server \\(pid ${server!.child.pid}\\) is already running on ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.doesNotMatch(second.stdout, /Parley is listening/);
  // The first server and its postmaster are untouched.
  assert.equal(livePostmaster(dataDir), pm);
  assert.deepEqual(owner(), { pid: server!.child.pid, role: 'server' });
  await assertContactKept(server!.url);
});

test('SIGTERM lets an in-flight request finish, then stops the adopted postmaster', async () => {
  const pm = livePostmaster(dataDir);
  assert.ok(pm);
  // Hold a lock that makes the next contact read wait inside PostgreSQL: a request that is
  // provably in flight when the signal arrives.
  const locker = new pg.Client({ connectionString: embeddedUrl(dataDir) });
  locker.on('error', () => undefined); // the fast shutdown ends this session at the very end
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE');
    const inFlight = request(`${server!.url}${CONTACTS}/%2B15551234567`, { key });
    inFlight.catch(() => undefined);
    await waitFor(async () => {
      const { rows } = await locker.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
      return rows[0].n > 0;
    }, 'the request to wait for the lock');

    server!.child.kill('SIGTERM');
    await server!.waitForStdout(/shutting down: finishing in-flight requests/);
    // New connections are turned away while the old request is still pending.
    await waitFor(
      () => request(`${server!.url}/healthz`).then((r) => r.status === 503, () => true),
      'the server to stop accepting new requests',
    );
    assert.equal(server!.child.exitCode, null, 'the server waits for the in-flight request');
    assert.equal(isAlive(pm), true, 'the database stays up while a request needs it');

    await locker.query('ROLLBACK');
    const response = await inFlight;
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.data.id, contactId);
  } finally {
    await locker.end().catch(() => undefined);
  }
  const exit = await server!.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, server!.stderr());
  assert.equal(await waitForExit(pm), true, 'the adopted postmaster is stopped');
  assert.equal(livePostmaster(dataDir), null);
  server = null;
});

test('invalid configuration: exit 1 with one clear line on stderr', async () => {
  const unused = makeDataDir();
  const cases: { env: Record<string, string>; message: RegExp }[] = [
    { env: { PORT: 'abc' }, message: /^parley: invalid configuration: PORT must be .*"abc"$/ },
    { env: { LOG_LEVEL: 'loud' }, message: /^parley: invalid configuration: LOG_LEVEL must be one of .*"loud"$/ },
    { env: { DATABASE_URL: 'mysql://x' }, message: /^parley: invalid configuration: DATABASE_URL must start with postgres:\/\/ .*$/ },
  ];
  const results = await Promise.all(cases.map((c) => runParley(['serve'], { PARLEY_DATA_DIR: unused, ...c.env })));
  results.forEach((result, i) => {
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, cases[i]!.message);
    assert.equal(result.stdout, '');
  });
  assert.equal(fs.existsSync(unused), false, 'nothing was started or created');
});
