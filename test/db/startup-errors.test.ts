// A start that cannot work says why, and which setting to change, as the last line it prints;
// and a first start that fails still leaves the user a way to an API key.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { adminUrl, createTestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, freePort, makeDataDir, parleyEnv, request, runParley, startParley, stopParley } from '../helpers/process.ts';

after(cleanupProcesses);

const SECRET = { PARLEY_SECRET_KEY: '7a'.repeat(32) };

/** Runs `parley serve`, expects exit 1, returns the last line on stderr. */
async function failedStart(env: Record<string, string>): Promise<string> {
  const result = await runParley(['serve'], { PORT: String(await freePort()), ...env }, 30_000);
  assert.equal(result.signal, null, `killed after 30 s (hung?):\n${result.stderr}\n${result.stdout}`);
  assert.equal(result.code, 1, `${result.stderr}\n${result.stdout}`);
  assert.doesNotMatch(result.stdout, /Parley is listening/);
  return result.stderr.trimEnd().split('\n').at(-1)!;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-startup-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('PARLEY_DATA_DIR', () => {
  const names = /PARLEY_DATA_DIR .*; set PARLEY_DATA_DIR to a folder this process can create and write$/;

  test('a file in the way (as the folder, or on its path)', async () => {
    const file = path.join(scratch, 'a-file');
    fs.writeFileSync(file, 'x');
    const asFolder = await failedStart({ PARLEY_DATA_DIR: file });
    assert.match(asFolder, /^parley: PARLEY_DATA_DIR .*a-file is a file, not a folder; /);
    assert.match(asFolder, names);
    const onPath = await failedStart({ PARLEY_DATA_DIR: path.join(file, 'data') });
    assert.match(onPath, /^parley: PARLEY_DATA_DIR .*a-file\/data cannot be created: .*a-file is a file, not a folder; /);
  });

  test('under /proc: an error at once, not a hang (embedded and external database)', async () => {
    const embedded = await failedStart({ PARLEY_DATA_DIR: '/proc/parley/data' });
    assert.match(embedded, /^parley: PARLEY_DATA_DIR \/proc\/parley\/data cannot be created \(.* at \/proc\/parley\); /);
    const database = await createTestDatabase();
    try {
      // The external database needs the data dir only for the generated secret key.
      const external = await failedStart({ PARLEY_DATA_DIR: '/proc/parley/data', DATABASE_URL: database.url });
      assert.match(external, names);
    } finally {
      await database.drop();
    }
  });

  test('on a read-only file system: not creatable, and not writable', async (t) => {
    const mount = path.join(scratch, 'read-only');
    fs.mkdirSync(mount);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mount], { stdio: 'ignore' });
    } catch {
      t.skip('mounting a read-only file system needs root');
      return;
    }
    try {
      const missing = await failedStart({ PARLEY_DATA_DIR: path.join(mount, 'data') });
      assert.match(missing, /^parley: PARLEY_DATA_DIR .*read-only\/data cannot be created \(read-only file system at .*\); /);
      const existing = await failedStart({ PARLEY_DATA_DIR: mount });
      assert.match(existing, /^parley: PARLEY_DATA_DIR .*read-only is not writable \(read-only file system\); /);
      assert.match(existing, names);
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});

describe('DATABASE_URL', () => {
  const env = (url: string) => ({ DATABASE_URL: url, PARLEY_DATA_DIR: makeDataDir(), ...SECRET });

  test('nothing listens there', async () => {
    const port = await freePort();
    const line = await failedStart(env(`postgres://parley@127.0.0.1:${port}/parley`));
    assert.equal(line, `parley: cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused (is it running there?); check DATABASE_URL`);
  });

  test('unknown host', async () => {
    const line = await failedStart(env('postgres://parley@no-such-host.invalid:5432/parley'));
    assert.equal(line, 'parley: cannot connect to PostgreSQL: unknown host "no-such-host.invalid"; check the host in DATABASE_URL');
  });

  test('a role the server refuses, and a database it does not have', async () => {
    const url = new URL(adminUrl());
    url.username = 'parley_no_such_role';
    url.password = 'wrong';
    const role = await failedStart(env(url.toString()));
    assert.match(role, /^parley: PostgreSQL at 127\.0\.0\.1:\d+ refused (the password of )?role "parley_no_such_role".*; check the user (and password )?in DATABASE_URL$/);
    assert.doesNotMatch(role, /wrong/, 'the password is not printed');
    const database = new URL(adminUrl());
    database.pathname = '/parley_no_such_database';
    const missing = await failedStart(env(database.toString()));
    assert.match(missing, /^parley: PostgreSQL at 127\.0\.0\.1:\d+ has no database "parley_no_such_database"; create it .* or change DATABASE_URL$/);
  });
});

describe('the last line', () => {
  test('with logs and errors on one terminal, the cause is printed after every log line (embedded database stopped first)', async () => {
    const squatter = net.createServer();
    const port = await new Promise<number>((resolve) => squatter.listen(0, '127.0.0.1', () => resolve((squatter.address() as net.AddressInfo).port)));
    // One file for stdout and stderr, as a terminal shows them: the order is the order written.
    const file = path.join(scratch, 'combined.log');
    const fd = fs.openSync(file, 'w');
    try {
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
          cwd: path.resolve(import.meta.dirname, '../..'),
          env: parleyEnv({ PORT: String(port), PARLEY_DATA_DIR: makeDataDir(), ...SECRET }),
          stdio: ['ignore', fd, fd],
        });
        child.once('exit', (exitCode) => resolve(exitCode));
      });
      assert.equal(code, 1);
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.ok(lines.some((line) => line.includes('embedded PostgreSQL stopped')), lines.join('\n'));
      assert.equal(lines.at(-1), `parley: port ${port} on 127.0.0.1 is already in use; stop what uses it or set PORT to a free port`, lines.join('\n'));
    } finally {
      fs.closeSync(fd);
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('PORT', () => {
  test('a port in use names PORT; the first start that failed on it still leads to the first key', async () => {
    const database = await createTestDatabase();
    const squatter = net.createServer();
    const port = await new Promise<number>((resolve) => squatter.listen(0, '127.0.0.1', () => resolve((squatter.address() as net.AddressInfo).port)));
    const env = { DATABASE_URL: database.url, PARLEY_DATA_DIR: makeDataDir(), ...SECRET };
    try {
      const result = await runParley(['serve'], { ...env, PORT: String(port) });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trimEnd().split('\n').at(-1), `parley: port ${port} on 127.0.0.1 is already in use; stop what uses it or set PORT to a free port`);
      assert.doesNotMatch(result.stdout, /prl_/, 'no key is shown by a start that failed');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    try {
      const server = await startParley({ ...env, PORT: String(await freePort()) });
      assert.ok(server.firstKey, `the second start shows the first key:\n${server.stdout()}`);
      assert.match(server.stdout(), /Created project "default"/);
      assert.equal((await request(`${server.url}/platform/v1/whatsapp/contacts`, { key: server.firstKey })).status, 200);
      assert.equal((await stopParley(server)).code, 0);

      // With no usable key left (revoked), every start says how to make one.
      const revoked = await runParley(['keys', 'revoke', server.firstKey.slice(0, 12)], { DATABASE_URL: database.url });
      assert.equal(revoked.code, 0, revoked.stderr);
      const again = await startParley({ ...env, PORT: String(await freePort()) });
      await again.waitForStdout(/npx parley keys create --project default/);
      assert.match(again.stdout(), /DATABASE_URL=… npx parley keys create/, 'the hint says the command needs the same database');
      assert.equal(again.firstKey, null);
      const stopped = await stopParley(again);
      assert.equal(stopped.code, 0, `exit ${JSON.stringify(stopped)}\n${again.stderr()}\n${again.stdout()}`);
    } finally {
      await database.drop();
    }
  });
});
