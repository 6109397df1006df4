// `parley keys …` as a user runs it: real processes against the embedded PostgreSQL (with and
// without a server on the same data dir) and against an external database shared by two nodes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createKey, KeyAuthenticator } from '../../src/projects/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  cleanupProcesses,
  freePort,
  livePostmaster,
  makeDataDir,
  request,
  runParley,
  type ServerProcess,
  startParley,
  stopParley,
  waitFor,
  waitForExit,
} from '../helpers/process.ts';

const KEY_LINE = /^prl_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$/;
const CONTACTS = '/platform/v1/whatsapp/contacts';

after(cleanupProcesses);

/** Runs `keys create` and checks that stdout is exactly one line: the key. */
async function createKeyWithCli(env: Record<string, string>, project: string): Promise<string> {
  const result = await runParley(['keys', 'create', '--project', project], env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\n$/);
  const lines = result.stdout.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `stdout must hold only the key:\n${result.stdout}`);
  assert.match(lines[0]!, KEY_LINE);
  return lines[0]!;
}

const prefixOf = (key: string) => key.slice(0, 12); // prl_XXXXXXXX
/** The cells of a `keys list` line: columns are two or more spaces apart. */
const columns = (line: string) => line.trim().split(/ {2,}/);

describe('embedded database', () => {
  let dataDir: string;
  let keyWithoutServer: string;
  const env = () => ({ PARLEY_DATA_DIR: dataDir });

  before(() => {
    dataDir = makeDataDir();
  });

  test('keys create without a server starts its own PostgreSQL and stops it again', async () => {
    keyWithoutServer = await createKeyWithCli(env(), 'acme');
    assert.ok(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION')), 'the data directory was initialised');
    assert.equal(livePostmaster(dataDir), null, 'no postmaster is left running');
    assert.equal(fs.existsSync(path.join(dataDir, 'owner.json')), false);
  });

  test('keys list: a header row naming the columns, then one aligned row per key', async () => {
    const result = await runParley(['keys', 'list'], env());
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, result.stdout);
    assert.deepEqual(columns(lines[0]!), ['KEY PREFIX', 'PROJECT', 'NAME', 'RATE LIMIT', 'STATE', 'CREATED', 'REVOKED']);
    const [prefix, project, name, limit, state, created, revoked] = columns(lines[1]!);
    assert.equal(prefix, prefixOf(keyWithoutServer));
    assert.equal(project, 'acme');
    assert.equal(name, '-', 'a key made without --name');
    assert.equal(limit, 'default');
    assert.equal(state, 'active');
    assert.match(created ?? '', /^\d{4}-\d{2}-\d{2}/);
    assert.equal(revoked, '-');
    // Aligned: every column starts where its title does.
    for (const title of ['PROJECT', 'NAME', 'RATE LIMIT', 'STATE', 'CREATED', 'REVOKED']) {
      const at = lines[0]!.indexOf(title);
      assert.notEqual(lines[1]![at - 1], undefined);
      assert.equal(lines[1]![at - 1], ' ', `${title} column is aligned:\n${result.stdout}`);
      assert.notEqual(lines[1]![at], ' ', `${title} column is aligned:\n${result.stdout}`);
    }
    assert.equal(livePostmaster(dataDir), null);
  });

  test('with a server running, keys create and revoke use its postmaster and leave it running', async () => {
    const server: ServerProcess = await startParley({ ...env(), PORT: String(await freePort()) });
    const pm = livePostmaster(dataDir);
    assert.ok(pm);
    const ownerBefore = fs.readFileSync(path.join(dataDir, 'owner.json'), 'utf8');
    assert.equal((await request(`${server.url}${CONTACTS}`, { key: keyWithoutServer })).status, 200);

    const key = await createKeyWithCli(env(), 'acme');
    assert.notEqual(key, keyWithoutServer);
    assert.equal(livePostmaster(dataDir), pm, 'the CLI connected to the running postmaster');
    assert.equal(fs.readFileSync(path.join(dataDir, 'owner.json'), 'utf8'), ownerBefore, 'the server still owns it');
    assert.equal((await request(`${server.url}${CONTACTS}`, { key })).status, 200);

    const revoked = await runParley(['keys', 'revoke', prefixOf(keyWithoutServer)], env());
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, '');
    assert.equal(livePostmaster(dataDir), pm, 'the CLI left the postmaster running');
    assert.equal((await request(`${server.url}${CONTACTS}`, { key: keyWithoutServer })).status, 401);
    assert.equal((await request(`${server.url}${CONTACTS}`, { key })).status, 200, 'other keys keep working');

    const exit = await stopParley(server);
    assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
    assert.equal(await waitForExit(pm), true, 'the server stopped the postmaster');
  });
});

describe('external database shared by two nodes', () => {
  let database: TestDatabase;
  let nodes: ServerProcess[];
  let revokedPrefix = 'prl_unset___';
  const env = () => ({ DATABASE_URL: database.url });

  before(async () => {
    database = await createTestDatabase();
    nodes = await Promise.all([freePort(), freePort()].map(async (port) => startParley({ ...env(), PORT: String(await port) })));
  });
  after(async () => {
    await Promise.all((nodes ?? []).map((node) => stopParley(node)));
    await database?.drop();
  });

  test('both nodes start on one database; only one of them creates the default project', async () => {
    assert.equal(nodes.filter((node) => node.firstKey !== null).length, 1, nodes.map((n) => n.stdout()).join('\n'));
    const projects = await database.db.selectFrom('projects').select('name').execute();
    assert.deepEqual(projects, [{ name: 'default' }]);
  });

  test('keys revoke: the key gets 401 on every node within moments, well inside the key cache', async (t) => {
    const key = await createKeyWithCli(env(), 'acme');
    const other = nodes.find((node) => node.firstKey !== null)!.firstKey!;
    const warmed = Date.now();
    for (const node of nodes) {
      const response = await request(`${node.url}${CONTACTS}`, { key });
      assert.equal(response.status, 200, `warm-up on ${node.url}: ${JSON.stringify(response.body)}`);
    }

    const revoked = await runParley(['keys', 'revoke', prefixOf(key)], env());
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, new RegExp(`revoked ${prefixOf(key)}`));
    revokedPrefix = prefixOf(key);

    // The notice travels by NOTIFY after the commit, so it may land a few milliseconds after the
    // CLI has exited: a node gets up to a second, far below the 5 s the key cache would need.
    for (const node of nodes) {
      const deadline = Date.now() + 1_000;
      let response = await request(`${node.url}${CONTACTS}`, { key });
      while (response.status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        response = await request(`${node.url}${CONTACTS}`, { key });
      }
      assert.equal(response.status, 401, `requests within a second of the revocation on ${node.url}`);
      assert.equal((await request(`${node.url}${CONTACTS}`, { key: other })).status, 200, 'other keys keep working');
    }
    // Keys stay cached for 5 s: only when we got here sooner does this prove the NOTIFY path.
    const elapsed = Date.now() - warmed;
    t.diagnostic(`warm-up to 401 took ${elapsed} ms`);
    if (elapsed >= 5_000) t.diagnostic('slower than the 5 s key cache: the NOTIFY path was not isolated');

    const list = await runParley(['keys', 'list'], env());
    assert.equal(list.code, 0, list.stderr);
    const row = list.stdout.split('\n').map(columns).find((cells) => cells[0] === prefixOf(key));
    assert.deepEqual(row?.slice(1, 5), ['acme', '-', 'default', 'revoked'], list.stdout);
    assert.match(row?.[6] ?? '', /^\d{4}-\d{2}-\d{2}/, 'the revocation time');
  });

  test('keys create --name: the name is stored, listed, and carried by the authenticated key (for the API log)', async () => {
    const result = await runParley(['keys', 'create', '--project', 'acme', '--name', ' CI bot '], env());
    assert.equal(result.code, 0, result.stderr);
    const key = result.stdout.trim();
    assert.match(key, KEY_LINE);
    const list = await runParley(['keys', 'list'], env());
    const row = list.stdout.split('\n').map(columns).find((cells) => cells[0] === prefixOf(key));
    assert.deepEqual(row?.slice(1, 5), ['acme', 'CI bot', 'default', 'active'], list.stdout);
    const stored = await database.db.selectFrom('api_keys').select(['id', 'name']).where('prefix', '=', prefixOf(key).slice(4)).executeTakeFirstOrThrow();
    assert.equal(stored.name, 'CI bot');
    const auth = await new KeyAuthenticator(database.db).authenticate(key);
    assert.deepEqual([auth?.keyId, auth?.keyName], [stored.id, 'CI bot']);
  });

  test('revoking an unknown or an already revoked prefix exits non-zero', async () => {
    const [unknown, again] = await Promise.all([
      runParley(['keys', 'revoke', 'prl_ZZZZZZZZ'], env()),
      runParley(['keys', 'revoke', revokedPrefix.slice(4)], env()), // the bare prefix is accepted too
    ]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no active key with prefix prl_ZZZZZZZZ/);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, new RegExp(`no active key with prefix ${revokedPrefix}`));
  });

  test('usage errors exit 2 with the usage text', async () => {
    const before = await database.db.selectFrom('api_keys').select('prefix').execute();
    const results = await Promise.all([
      runParley(['keys', 'create'], env()),
      runParley(['keys', 'create', '--project', 'acme', '--rate-limit', 'lots'], env()),
      runParley(['keys', 'create', '--project', 'acme', '--name', '  '], env()),
      runParley(['keys', 'create', '--project', 'acme', '--name', 'x'.repeat(101)], env()),
      runParley(['keys', 'create', '--project', 'acme', '--name', 'two\nlines'], env()),
    ]);
    for (const result of results) {
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^parley: .+\n\nUsage: parley <command>/);
    }
    assert.match(results[0]!.stderr, /keys create needs --project NAME/);
    assert.match(results[1]!.stderr, /--rate-limit must be a whole number/);
    assert.match(results[2]!.stderr, /--name must not be empty/);
    assert.match(results[3]!.stderr, /--name must be at most 100 characters/);
    assert.match(results[4]!.stderr, /--name must not hold control characters/);
    const keys = await database.db.selectFrom('api_keys').select('prefix').execute();
    assert.equal(keys.length, before.length, 'no key was created by a failed command');
  });
});

test('a revocation notice that arrives while a key lookup is pending is not undone by that lookup', async () => {
  const database = await createTestDatabase();
  const locker = new pg.Client({ connectionString: database.url });
  await locker.connect();
  try {
    const { key, prefix } = await createKey(database.db, 'acme');
    const authenticator = new KeyAuthenticator(database.db);
    // Make the lookup wait inside PostgreSQL, then deliver the notice meanwhile.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
    const pending = authenticator.authenticate(key);
    await waitFor(async () => {
      const { rows } = await locker.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0].n > 0;
    }, 'the key lookup to wait for the lock');
    authenticator.forget(prefix);
    await locker.query('ROLLBACK');
    assert.ok(await pending, 'the lookup itself read the key before the revocation');
    // The revocation that the notice announced is now visible: the next request must see it.
    await locker.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = $1', [prefix]);
    assert.equal(await authenticator.authenticate(key), null);
  } finally {
    await locker.end();
    await database.drop();
  }
});
