// `parley failures` as an operator runs it: real processes on a real database, the broken rows
// written with SQL the way the workers leave them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, embeddedUrl, freePort, livePostmaster, makeDataDir, runParley, startParley, stopParley } from '../helpers/process.ts';

after(cleanupProcesses);

/** The cells of a table line: columns are two or more spaces apart. */
const columns = (line: string) => line.trim().split(/ {2,}/);

/** The lines of the section whose heading contains `title`, up to the blank line that ends it. */
function section(stdout: string, title: string): string[] {
  const blocks = stdout.trimEnd().split('\n\n').map((block) => block.split('\n'));
  const found = blocks.find((lines) => lines[0]!.includes(title));
  assert.ok(found, `a section for ${title}:\n${stdout}`);
  return found;
}

describe('external database', () => {
  let database: TestDatabase;
  const env = () => ({ DATABASE_URL: database.url });

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  test('nothing set aside: one line, exit 0', async () => {
    const [all, day] = await Promise.all([runParley(['failures'], env()), runParley(['failures', '--since', '24h'], env())]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'no failures: nothing has been set aside\n');
    assert.equal(day.code, 0, day.stderr);
    assert.equal(day.stdout, 'no failures in the last 24h\n');
  });

  test('each kind: its count, then its newest rows aligned, with project, attempts and a one-line error', async () => {
    const longError = `render failed:\n  at line 1\n${'x'.repeat(400)}`;
    await sql(database, `
      INSERT INTO projects (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'acme');
      INSERT INTO webhook_events (project_id, event, attempts, last_error, dead_at, dispatched_at) VALUES
        ('00000000-0000-4000-8000-000000000001', 'whatsapp.message.received', 5, 'oldest dead', now() - interval '2 days', NULL),
        ('00000000-0000-4000-8000-000000000001', 'whatsapp.message.sent', 5, $1, now() - interval '1 hour', NULL),
        ('00000000-0000-4000-8000-000000000001', 'whatsapp.message.failed', 5, 'newest dead', now() - interval '1 minute', NULL),
        ('00000000-0000-4000-8000-000000000001', 'whatsapp.message.read', 2, 'still retrying', NULL, NULL);
      INSERT INTO meta_events (id, body, state, attempts, note, processed_at) OVERRIDING SYSTEM VALUE VALUES
        (4711, '{}', 'failed', 5, 'invalid input syntax for type uuid', now() - interval '3 hours'),
        (4712, '{}', 'processed', 1, NULL, now()),
        (4713, '{}', 'pending', 2, 'retrying', NULL);
      INSERT INTO jobs (kind, payload, attempts, last_error, failed_at) VALUES
        ('contacts.import', '{}', 3, 'boom', now() - interval '5 minutes'),
        ('contacts.import', '{}', 1, 'will retry', NULL);
      INSERT INTO webhook_deliveries (project_id, webhook_url, event, idempotency_key, status, attempt_count, last_error, failed_at) VALUES
        ('00000000-0000-4000-8000-000000000001', 'https://hooks.example.com/in', 'whatsapp.message.received', 'k1', 'failed', 4, 'HTTP 500', now() - interval '10 minutes'),
        ('00000000-0000-4000-8000-000000000001', 'https://hooks.example.com/ok', 'whatsapp.message.received', 'k2', 'delivered', 1, NULL, NULL);
    `, [longError]);

    const result = await runParley(['failures', '--limit', '2'], env());
    assert.equal(result.code, 0, result.stderr);
    const { stdout } = result;

    const outbox = section(stdout, 'Dead outbox events');
    assert.equal(outbox[0], 'Dead outbox events (webhook_events): 3, newest 2 below');
    assert.deepEqual(columns(outbox[1]!), ['WHEN (UTC)', 'EVENT', 'PROJECT', 'ATTEMPTS', 'ERROR']);
    assert.equal(outbox.length, 4, 'two rows under the header');
    const [newest, second] = [columns(outbox[2]!), columns(outbox[3]!)];
    assert.match(newest[0]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.deepEqual(newest.slice(1), ['whatsapp.message.failed', 'acme', '5', 'newest dead']);
    assert.deepEqual(second.slice(1, 4), ['whatsapp.message.sent', 'acme', '5']);
    // The multi-line error: one line, cut.
    assert.ok(second[4]!.startsWith('render failed: at line 1 xxx'), second[4]);
    assert.ok(second[4]!.endsWith('…'));
    assert.ok(second[4]!.length <= 160, `cut to 160: ${second[4]!.length}`);
    assert.ok(newest[0]! > second[0]!, 'newest first');
    assert.doesNotMatch(stdout, /oldest dead|still retrying|will retry|retrying|hooks\.example\.com\/ok|meta event 4712|meta event 4713/);
    // Aligned: every column starts where its title does.
    for (const title of ['EVENT', 'PROJECT', 'ATTEMPTS', 'ERROR']) {
      const at = outbox[1]!.indexOf(title);
      for (const line of outbox.slice(2)) {
        assert.equal(line[at - 1], ' ', `${title} column is aligned:\n${stdout}`);
        assert.notEqual(line[at], ' ', `${title} column is aligned:\n${stdout}`);
      }
    }

    const meta = section(stdout, 'Failed Meta bodies');
    assert.equal(meta[0], 'Failed Meta bodies (meta_events): 1');
    assert.deepEqual(columns(meta[2]!).slice(1), ['meta event 4711', '-', '5', 'invalid input syntax for type uuid']);

    const jobs = section(stdout, 'Failed jobs');
    assert.equal(jobs[0], 'Failed jobs (jobs): 1');
    assert.deepEqual(columns(jobs[1]!), ['WHEN (UTC)', 'JOB KIND', 'PROJECT', 'ATTEMPTS', 'ERROR']);
    assert.deepEqual(columns(jobs[2]!).slice(1), ['contacts.import', '-', '3', 'boom']);

    const deliveries = section(stdout, 'Failed webhook deliveries');
    assert.equal(deliveries[0], 'Failed webhook deliveries (webhook_deliveries): 1');
    assert.deepEqual(columns(deliveries[1]!), ['WHEN (UTC)', 'WEBHOOK URL', 'PROJECT', 'ATTEMPTS', 'ERROR']);
    assert.deepEqual(columns(deliveries[2]!).slice(1), ['https://hooks.example.com/in', 'acme', '4', 'HTTP 500']);
  });

  test('--since leaves out what was set aside earlier; a kind with none still shows its count', async () => {
    const result = await runParley(['failures', '--since', '24h'], env());
    assert.equal(result.code, 0, result.stderr);
    const outbox = section(result.stdout, 'Dead outbox events');
    assert.equal(outbox[0], 'Dead outbox events (webhook_events): 2');
    assert.doesNotMatch(result.stdout, /oldest dead/);

    const recent = await runParley(['failures', '--since', '1h'], env());
    assert.equal(recent.code, 0, recent.stderr);
    assert.deepEqual(section(recent.stdout, 'Failed Meta bodies'), ['Failed Meta bodies (meta_events): 0']);
    assert.match(section(recent.stdout, 'Failed jobs')[0]!, /: 1$/);

    const all = await runParley(['failures', '--since', 'all'], env());
    assert.match(section(all.stdout, 'Dead outbox events')[0]!, /: 3$/);
    assert.match(all.stdout, /oldest dead/);
  });

  test('usage errors exit 2 with the usage text', async () => {
    const results = await Promise.all([
      runParley(['failures', '--limit', '0'], env()),
      runParley(['failures', '--since', '1w'], env()),
      runParley(['failures', '--verbose'], env()),
    ]);
    for (const result of results) {
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^parley: .+\n\nUsage: parley <command>/);
    }
    assert.match(results[0]!.stderr, /--limit must be a whole number above 0/);
    assert.match(results[1]!.stderr, /--since must be a number of hours or days/);
    assert.match(results[2]!.stderr, /--verbose/);
  });
});

test('embedded database: works without a server and beside a running one, leaving its postmaster up', async () => {
  const dataDir = makeDataDir();
  const alone = await runParley(['failures'], { PARLEY_DATA_DIR: dataDir });
  assert.equal(alone.code, 0, alone.stderr);
  assert.equal(alone.stdout, 'no failures: nothing has been set aside\n');
  assert.equal(livePostmaster(dataDir), null, 'no postmaster is left running');

  const server = await startParley({ PARLEY_DATA_DIR: dataDir, PORT: String(await freePort()) });
  const pm = livePostmaster(dataDir);
  assert.ok(pm);
  const client = new pg.Client({ connectionString: embeddedUrl(dataDir) });
  await client.connect();
  try {
    await client.query(`INSERT INTO jobs (kind, payload, attempts, last_error, failed_at) VALUES ('demo.kind', '{}', 3, 'gave up', now())`);
  } finally {
    await client.end();
  }
  const beside = await runParley(['failures'], { PARLEY_DATA_DIR: dataDir });
  assert.equal(beside.code, 0, beside.stderr);
  assert.deepEqual(columns(section(beside.stdout, 'Failed jobs')[2]!).slice(1), ['demo.kind', '-', '3', 'gave up']);
  assert.equal(livePostmaster(dataDir), pm, 'the CLI left the server its postmaster');
  assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());
});

async function sql(database: TestDatabase, statements: string, params: unknown[]): Promise<void> {
  const client = await database.pool.connect();
  try {
    // One statement per query: parameters are not allowed in a multi-statement string.
    for (const statement of statements.split(';').map((s) => s.trim()).filter(Boolean)) {
      await client.query(statement, statement.includes('$1') ? params : []);
    }
  } finally {
    client.release();
  }
}
