// Database outages under a running server, seen from outside: real `parley serve` processes
// under load while their PostgreSQL connections are terminated, the embedded postmaster is
// killed, or the external database goes away. The server never crashes, answers 503 meanwhile
// and recovers by itself.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { adminUrl, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  cleanupProcesses,
  embeddedUrl,
  freePort,
  livePostmaster,
  makeDataDir,
  request,
  type ServerProcess,
  startParley,
  stopParley,
  waitFor,
} from '../helpers/process.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const UNAVAILABLE = { error: 'Database unavailable' };
// Two servers on one external database share a secret key; the load must not hit the rate limit.
const SERVER_ENV = { PARLEY_SECRET_KEY: '5e'.repeat(32), PARLEY_RATE_LIMIT: '1000000' };

after(cleanupProcesses);

let serial = 0;
const newNumber = () => `+1555${2 + (process.pid % 7)}${String(serial++).padStart(6, '0')}`;

async function createContact(server: ServerProcess) {
  return request(`${server.url}${CONTACTS}`, { method: 'POST', key: server.firstKey!, body: { contact: { wa_id: newNumber() } } });
}

/** 20 clients creating contacts while `during` runs: how many answers of each status; anything but 201 or the 503 fails. */
async function underLoad(server: ServerProcess, during: () => Promise<void>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const unexpected: string[] = [];
  let running = true;
  const clients = Array.from({ length: 20 }, async () => {
    const deadline = Date.now() + 60_000; // bounded even if `during` hangs
    while (running && Date.now() < deadline) {
      const response = await createContact(server).catch((error: Error) => ({ status: 0, body: error.message }));
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const expected = response.status === 201 || (response.status === 503 && JSON.stringify(response.body) === JSON.stringify(UNAVAILABLE));
      if (!expected) unexpected.push(`${response.status} ${JSON.stringify(response.body)}`);
    }
  });
  try {
    await during();
  } finally {
    running = false;
    await Promise.all(clients);
  }
  assert.deepEqual(unexpected.slice(0, 5), [], `${unexpected.length} unexpected answers`);
  return statuses;
}

/** Ends every connection the server holds (what a restart or fail-over of PostgreSQL does). */
async function terminateServerConnections(url: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = $1 AND application_name LIKE 'parley%' AND pid <> pg_backend_pid()) AS t`,
      [database],
    );
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}

async function assertRecovered(server: ServerProcess): Promise<void> {
  await waitFor(async () => (await createContact(server)).status === 201, 'contacts to be created again', 60_000);
  assert.equal((await request(`${server.url}/readyz`)).status, 200);
}

function lines(text: string, message: string): number {
  return text.split('\n').filter((line) => line.includes(`"msg":"${message}`)).length;
}

async function terminateRepeatedly(url: string, database: string): Promise<number> {
  let terminated = 0;
  for (let round = 0; round < 6; round += 1) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    terminated += await terminateServerConnections(url, database);
  }
  return terminated;
}

describe('external database (DATABASE_URL)', () => {
  let database: TestDatabase;
  let server: ServerProcess;
  let key: string;

  test('pg_terminate_backend of every server connection under load: 201 or 503, never a crash', async () => {
    database = await createTestDatabase();
    server = await startParley({ DATABASE_URL: database.url, ...SERVER_ENV, PARLEY_DATA_DIR: makeDataDir(), PORT: String(await freePort()) });
    assert.ok(server.firstKey, server.stdout());
    key = server.firstKey;
    let terminated = 0;
    const statuses = await underLoad(server, async () => {
      terminated = await terminateRepeatedly(adminUrl(), database.name);
    });
    assert.ok(terminated > 0, 'connections were terminated');
    assert.equal(server.child.exitCode, null, `the server exited:\n${server.stderr()}\n${server.stdout().slice(-3000)}`);
    assert.ok((statuses.get(201) ?? 0) > 0, JSON.stringify([...statuses]));
    await assertRecovered(server);
    assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());
  });

  test('the database goes away and comes back: 503 and /readyz 503 meanwhile, one line each, shutdown exits 0', async () => {
    // The server reaches PostgreSQL through a proxy that the test can take down and bring back.
    const target = new URL(adminUrl());
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      sockets.add(socket).add(upstream);
      const drop = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      socket.pipe(upstream).pipe(socket);
    });
    const listen = (port = 0) => new Promise<number>((resolve) => proxy.listen(port, '127.0.0.1', () => resolve((proxy.address() as net.AddressInfo).port)));
    const takeDown = async () => {
      const closed = new Promise((resolve) => proxy.close(resolve));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    };
    const port = await listen();
    try {
      const url = new URL(database.url);
      url.host = `127.0.0.1:${port}`;
      server = await startParley({ DATABASE_URL: url.toString(), ...SERVER_ENV, PARLEY_DATA_DIR: makeDataDir(), PORT: String(await freePort()) });
      assert.equal(server.firstKey, null, 'the first test made the key');
      server.firstKey = key;
      assert.equal((await createContact(server)).status, 201);

      await takeDown();
      const down = await createContact(server);
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.deepEqual(down.body, UNAVAILABLE);
      const ready = await request(`${server.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body, UNAVAILABLE);
      await server.waitForStdout(/"msg":"the database is unavailable/);
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // a few failed probes and worker passes
      assert.equal((await createContact(server)).status, 503);

      await listen(port);
      await assertRecovered(server);
      await server.waitForStdout(/"msg":"the database is available again"/);
      assert.equal(lines(server.stdout(), 'the database is unavailable'), 1, server.stdout());
      assert.equal(lines(server.stdout(), 'the database is available again'), 1);
      assert.equal(server.child.exitCode, null);

      // Down again, and stopped while it is down.
      await takeDown();
      assert.equal((await createContact(server)).status, 503);
      assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());
    } finally {
      if (proxy.listening) await takeDown();
      await database.drop();
    }
  });
});

describe('embedded database', () => {
  const dataDir = makeDataDir();
  let server: ServerProcess;

  test('pg_terminate_backend of every server connection under load: 201 or 503, never a crash', async () => {
    server = await startParley({ ...SERVER_ENV, PARLEY_DATA_DIR: dataDir, PORT: String(await freePort()) });
    assert.ok(server.firstKey, server.stdout());
    let terminated = 0;
    const statuses = await underLoad(server, async () => {
      terminated = await terminateRepeatedly(embeddedUrl(dataDir, 'postgres'), 'parley');
    });
    assert.ok(terminated > 0, 'connections were terminated');
    assert.equal(server.child.exitCode, null, `the server exited:\n${server.stderr()}\n${server.stdout().slice(-3000)}`);
    assert.ok((statuses.get(201) ?? 0) > 0, JSON.stringify([...statuses]));
    await assertRecovered(server);
  });

  test('kill -9 of the postmaster under load: 503 meanwhile, restarted, 201 again, one line each way', async () => {
    const before = livePostmaster(dataDir);
    assert.ok(before);
    let sawDown = false;
    const statuses = await underLoad(server, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(before, 'SIGKILL');
      await waitFor(async () => {
        const ready = await request(`${server.url}/readyz`);
        if (ready.status === 503) {
          assert.deepEqual(ready.body, UNAVAILABLE);
          sawDown = true;
        }
        return sawDown;
      }, '/readyz to answer 503');
      await waitFor(() => livePostmaster(dataDir) !== null && livePostmaster(dataDir) !== before, 'a new postmaster', 60_000);
      await assertRecovered(server);
    });
    assert.ok((statuses.get(503) ?? 0) > 0, `no request saw the outage: ${JSON.stringify([...statuses])}`);
    assert.equal(server.child.exitCode, null, server.stderr());
    await server.waitForStdout(/"msg":"the embedded PostgreSQL is running again"/);
    assert.equal(lines(server.stdout(), 'the embedded PostgreSQL stopped unexpectedly'), 1, server.stdout());
    assert.equal(lines(server.stdout(), 'the embedded PostgreSQL is running again'), 1);
    assert.equal(lines(server.stdout(), 'the embedded PostgreSQL is unavailable'), 0, 'the supervisor alone logs the outage');
    assert.equal(lines(server.stdout(), 'the embedded PostgreSQL is available again'), 0);
    // Nothing else warns about it: workers, sweeps and the listener leave the outage to those two lines.
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // workers back off, then recover
    const loud = server
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((entry) => entry.level >= 40 && !entry.msg.startsWith('the embedded PostgreSQL stopped unexpectedly') && !entry.msg.startsWith('generated a secret key'));
    assert.deepEqual(loud.map((entry) => entry.msg), [], 'warnings besides the outage line');
  });

  test('SIGTERM after the outage exits 0 and stops the restarted postmaster', async () => {
    const pm = livePostmaster(dataDir);
    assert.ok(pm);
    assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());
    await waitFor(() => livePostmaster(dataDir) === null, 'the postmaster to stop');
  });

  test('a postmaster that cannot come back: the server exits 1 and its last line says why', async () => {
    server = await startParley({ ...SERVER_ENV, PARLEY_DATA_DIR: dataDir, PARLEY_EMBEDDED_RESTART_SECONDS: '2', PORT: String(await freePort()) });
    const pm = livePostmaster(dataDir)!;
    // A port taken by someone else keeps the postmaster from starting on it again.
    const port = new URL(embeddedUrl(dataDir)).port;
    process.kill(pm, 'SIGKILL');
    await waitFor(() => livePostmaster(dataDir) === null, 'the postmaster to die');
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen(Number(port), '127.0.0.1', () => resolve()));
    try {
      const exit = await server.exited;
      assert.deepEqual(exit, { code: 1, signal: null }, server.stderr());
      const last = server.stderr().trimEnd().split('\n').at(-1)!;
      assert.match(last, /^parley: the embedded PostgreSQL stopped and could not be restarted in 2 s .*; see .*postgres\.log$/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
