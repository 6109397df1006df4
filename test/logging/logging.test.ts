// LOG_FORMAT and what the server logs, with real processes on one embedded database: JSON lines
// where output is not a terminal (and with LOG_FORMAT=json), readable lines with LOG_FORMAT=pretty
// or on a terminal, health probes only at debug, and no key twice in one line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { duplicateKeys, jsonLines } from '../helpers/logs.ts';
import { awaitListening, cleanupProcesses, freePort, livePostmaster, makeDataDir, parleyEnv, request, runParley, spawnParley, stopParley, waitFor } from '../helpers/process.ts';

const root = path.resolve(import.meta.dirname, '../..');
/** A readable line: time, level, message, fields. */
const PRETTY_LINE = /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/;

let env: Record<string, string>;
let key: string;

before(async () => {
  env = { PARLEY_DATA_DIR: makeDataDir(), PORT: String(await freePort()) };
  const first = await awaitListening(spawnParley(['serve'], { ...env, LOG_LEVEL: 'info' }));
  key = first.firstKey!;
  assert.ok(key, first.stdout());
  assert.deepEqual(await stopParley(first), { code: 0, signal: null }, first.stderr());
});
after(cleanupProcesses);

function assertNoDuplicateKeys(output: string): void {
  for (const line of output.split('\n').filter((l) => l.startsWith('{'))) {
    assert.deepEqual(duplicateKeys(line), [], `a key appears twice in: ${line}`);
  }
}

test('not a terminal: JSON lines by default; health probes are not logged at info', async () => {
  const server = await awaitListening(spawnParley(['serve'], { ...env, LOG_LEVEL: 'info' }));
  for (let i = 0; i < 3; i++) {
    assert.equal((await request(`${server.url}/healthz`)).status, 200);
    assert.equal((await request(`${server.url}/readyz`)).status, 200);
  }
  assert.equal((await request(`${server.url}/platform/v1/whatsapp/contacts`, { key })).status, 200);
  await waitFor(() => server.stdout().includes('"path":"/platform/v1/whatsapp/contacts"'), 'the request line');
  assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());

  const lines = server.stdout().split('\n').filter((line) => line !== '');
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
  const requests = jsonLines(server.stdout()).filter((l) => l.msg === 'request');
  assert.deepEqual(requests.map((l) => [l.level, l.path, l.status]), [[30, '/platform/v1/whatsapp/contacts', 200]], 'only the API request, at info');
  assertNoDuplicateKeys(server.stdout());
});

test('LOG_FORMAT=json at debug: probes logged at debug; a server killed -9 is adopted, without a key twice in a line', async () => {
  const killed = await awaitListening(spawnParley(['serve'], { ...env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' }));
  const postmaster = livePostmaster(env.PARLEY_DATA_DIR!);
  killed.child.kill('SIGKILL');
  await killed.exited;
  assert.equal(livePostmaster(env.PARLEY_DATA_DIR!), postmaster, 'the postmaster outlives the killed server');

  const server = await awaitListening(spawnParley(['serve'], { ...env, LOG_FORMAT: 'json', LOG_LEVEL: 'debug' }));
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  await waitFor(() => server.stdout().includes('"path":"/healthz"'), 'the probe line');
  assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());

  const lines = jsonLines(server.stdout());
  assert.equal(lines.length, server.stdout().split('\n').filter((line) => line !== '').length, 'every line is JSON');
  assert.deepEqual(lines.filter((l) => l.path === '/healthz').map((l) => l.level), [20]);
  const adopted = lines.find((l) => l.msg.startsWith('adopting an embedded PostgreSQL'));
  assert.ok(adopted, server.stdout());
  assert.equal(adopted.pid, server.child.pid, 'pid is the Parley process, as on every line');
  assertNoDuplicateKeys(server.stdout());
});

test('LOG_FORMAT=pretty: readable lines with the same fields, no colour when not a terminal', async () => {
  const server = spawnParley(['serve'], { ...env, LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' });
  const out = await server.waitForStdout(/INFO  Parley is listening url=\S+ database=embedded\n/);
  const url = /Parley is listening url=(\S+)/.exec(out)![1]!;
  assert.equal((await request(`${url}/platform/v1/whatsapp/contacts/%2B1555`, { key })).status, 404);
  await waitFor(() => server.stdout().includes('path=/platform/v1/whatsapp/contacts/%2B1555'), 'the request line');
  assert.deepEqual(await stopParley(server), { code: 0, signal: null }, server.stderr());

  const lines = server.stdout().split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, PRETTY_LINE);
  assert.ok(!server.stdout().includes('\u001b['), 'no colour codes in a pipe');
  const requestLine = lines.find((line) => line.includes(' request '))!;
  assert.match(requestLine, /^\S+ INFO  request reqId=[\w-]+ method=GET path=\/platform\/v1\/whatsapp\/contacts\/%2B1555 status=404 ms=[\d.]+$/);
});

test('the CLI logs to stderr, readable on a terminal', async () => {
  // `script` gives the command a terminal; LOG_FORMAT is not set, so the terminal decides.
  const command = `${process.execPath} --import tsx src/main.ts keys list`;
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: root, env: parleyEnv({ ...env, LOG_LEVEL: 'debug' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  const lines = out.split(/\r?\n/);
  assert.ok(lines.some((line) => /^\S*\d\d:\d\d:\d\d\.\d{3}\S* \S*DEBUG\S* embedded PostgreSQL ready/.test(line)), out);
  assert.ok(!out.includes('{"level"'), out);
  assert.ok(out.includes(key.slice(0, 12)), out);

  const piped = await runParley(['keys', 'list'], { ...env, LOG_LEVEL: 'debug' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.ok(jsonLines(piped.stderr).some((l) => l.msg === 'embedded PostgreSQL ready'), piped.stderr);
  assert.ok(!piped.stdout.includes('{'), 'stdout holds only the list');
});
