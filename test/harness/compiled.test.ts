// What `npm start` and `bin/parley.js` run: the JavaScript that tsconfig.build.json compiles from
// src/ alone. Built here into a folder of its own, then started for real on a fresh embedded
// database (the migrations run from the compiled files), answering an API request, with a CLI
// command beside it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { awaitListening, cleanupProcesses, freePort, makeDataDir, request, runParley, spawnParley, stopParley } from '../helpers/process.ts';

const root = path.resolve(import.meta.dirname, '../..');
// Inside the checkout, so that the compiled files find node_modules as dist/ does.
const outDir = path.join(root, '.test-data', `dist-${process.pid}`);
const entry = [path.join(outDir, 'main.js')];

function emitted(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? emitted(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

before(async () => {
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root });
});
after(async () => {
  await cleanupProcesses();
  fs.rmSync(outDir, { recursive: true, force: true });
  // The parent too, unless another run's build is in it.
  if (fs.readdirSync(path.dirname(outDir)).length === 0) fs.rmdirSync(path.dirname(outDir));
});

test('the build holds src/ only, as JavaScript importing JavaScript', () => {
  const files = emitted(outDir).map((file) => path.relative(outDir, file));
  assert.ok(files.includes('main.js') && files.includes('server.js'), files.join(' '));
  assert.ok(files.includes(path.join('db', 'migrations', '0001_foundation.js')), 'the migrations are compiled');
  assert.deepEqual(files.filter((file) => !file.endsWith('.js')), [], 'nothing but JavaScript');
  assert.deepEqual(files.filter((file) => /^(test|bench|src)\//.test(file)), [], 'no tests or benchmarks, and src/ is the root');
  for (const file of files) {
    const text = fs.readFileSync(path.join(outDir, file), 'utf8');
    assert.doesNotMatch(text, /(from\s+|import\()\s*['"]\.{1,2}\/[^'"]+\.ts['"]/, `${file} imports a .ts file`);
  }
});

test('the compiled server migrates a fresh database, answers, and the compiled CLI works beside it', async () => {
  const env = { PARLEY_DATA_DIR: makeDataDir(), PORT: String(await freePort()), LOG_LEVEL: 'info' };
  const server = await awaitListening(spawnParley(['serve'], env, entry));
  assert.ok(server.firstKey, server.stdout());
  const contacts = await request(`${server.url}/platform/v1/whatsapp/contacts`, { key: server.firstKey });
  assert.equal(contacts.status, 200, JSON.stringify(contacts.body));
  const keys = await runParley(['keys', 'list'], env, 60_000, entry);
  assert.equal(keys.code, 0, keys.stderr);
  assert.ok(keys.stdout.includes(server.firstKey.slice(0, 12)), keys.stdout);
  assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());
});
