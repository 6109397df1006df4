// PARLEY_DB_POOL_MAX: the connection budget a node may use, checked at start and held under load.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createKey } from '../../src/projects/service.ts';
import { call, startCluster } from '../helpers/cluster.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { cleanupProcesses } from '../helpers/process.ts';

let database: TestDatabase | undefined;

after(async () => {
  await cleanupProcesses();
  await database?.drop();
});

test('PARLEY_DB_POOL_MAX defaults to 20 and must leave each background loop and requests a connection', () => {
  assert.equal(loadConfig({}).dbPoolMax, 20);
  assert.equal(loadConfig({ PARLEY_DB_POOL_MAX: '8' }).dbPoolMax, 8);
  assert.throws(() => loadConfig({ PARLEY_DB_POOL_MAX: '7' }), (error: unknown) => error instanceof ConfigError && /PARLEY_DB_POOL_MAX must be at least 8/.test(error.message));
  assert.throws(() => loadConfig({ PARLEY_DB_POOL_MAX: '9', PARLEY_INBOUND_LOOPS: '4' }), /at least 10 \(PARLEY_INBOUND_LOOPS \+ 6/);
  assert.throws(() => loadConfig({ PARLEY_DB_POOL_MAX: 'many' }), /PARLEY_DB_POOL_MAX must be a whole number/);
});

test('a node never opens more pool connections than PARLEY_DB_POOL_MAX, and still answers everything', async () => {
  database = await createTestDatabase();
  const { key } = await createKey(database.db, 'pool', { rateLimit: 0 });
  // The test's own pool carries the same application_name: its connections are left out by pid,
  // and the sampling runs on a client of its own so that the test's pool does not grow meanwhile.
  const { rows: own } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'parley'`.execute(database.db);
  const sampler_client = new pg.Client({ connectionString: database.url, application_name: 'pool-size-sampler' });
  await sampler_client.connect();
  const cluster = await startCluster(1, { databaseUrl: database.url, env: { PARLEY_DB_POOL_MAX: '8' } });
  const node = cluster.nodes[0]!;
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await sampler_client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'parley' AND NOT (pid = ANY ($1::int[]))`,
        [own.map((r) => r.pid)],
      );
      peak = Math.max(peak, rows[0]!.n);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  // 60 writes at once: far more than the pool, so requests queue for connections instead of opening more.
  const responses = await Promise.all(
    Array.from({ length: 60 }, (_, i) => call(node, '/platform/v1/whatsapp/contacts', { method: 'POST', key, body: { contact: { wa_id: `1650555${String(1000 + i)}` } } })),
  );
  sampling = false;
  await sampler;
  await sampler_client.end();
  assert.deepEqual([...new Set(responses.map((r) => r.status))], [201], responses.find((r) => r.status !== 201)?.text);
  assert.ok(peak > 0, 'the sampler saw the node’s connections');
  assert.ok(peak <= 8, `peak pool connections ${peak} > 8`);
});
