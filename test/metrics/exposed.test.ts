// A server that listens beyond this machine with open metrics says so when it starts, and the
// address it prints for requests is one a client can use.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, freePort, makeDataDir, request, startParley, stopParley } from '../helpers/process.ts';

after(cleanupProcesses);

const WARNING = 'GET /metrics is open to anyone who reaches this address; set PARLEY_METRICS_TOKEN';

test('HOST=0.0.0.0 without PARLEY_METRICS_TOKEN warns at start; with the token, or on loopback, it does not', async () => {
  const database = await createTestDatabase();
  try {
    const base = { DATABASE_URL: database.url, PARLEY_DATA_DIR: makeDataDir(), PARLEY_SECRET_KEY: '5c'.repeat(32) };
    const open = await startParley({ ...base, HOST: '0.0.0.0', PORT: String(await freePort()) });
    assert.match(open.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the printed address is usable');
    assert.equal((await request(`${open.url}/healthz`)).status, 200);
    assert.ok(open.stdout().includes(WARNING), open.stdout());
    assert.equal((await stopParley(open)).code, 0);

    const guarded = await startParley({ ...base, HOST: '0.0.0.0', PORT: String(await freePort()), PARLEY_METRICS_TOKEN: 'scrape-secret' });
    assert.ok(!guarded.stdout().includes(WARNING), guarded.stdout());
    assert.equal((await stopParley(guarded)).code, 0);

    const local = await startParley({ ...base, PORT: String(await freePort()) });
    assert.ok(!local.stdout().includes(WARNING), local.stdout());
    assert.equal((await stopParley(local)).code, 0);
  } finally {
    await database.drop();
  }
});
