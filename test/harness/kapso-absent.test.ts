// A clone without ../shared has no Kapso document: the tests that need it are reported as skipped
// with the reason, the others still run and pass; PARLEY_REQUIRE_SHARED=1 turns the absence into
// failures. Real runs of node's test runner on two files: one all about Kapso's document, one that
// tests behaviour and checks Kapso's schemas along the way (and once failed on state a failing
// test left behind).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
const FILES = ['test/customers/conformance.test.ts', 'test/marketing-preferences/preferences.test.ts'];

interface Summary {
  output: string;
  code: number | null;
  count: (name: string) => number;
}

function runTests(files: string[], env: Record<string, string>): Promise<Summary> {
  // NODE_TEST_CONTEXT would make the child report to this runner instead of running its files.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
      cwd: root,
      env: { ...inherited, PARLEY_KAPSO_OPENAPI: path.join(root, 'no-such-dir', 'openapi-platform.yaml'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const count = (name: string) => {
        const match = new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output);
        if (!match) throw new Error(`no "# ${name}" line in:\n${output}`);
        return Number(match[1]);
      };
      resolve({ output, code, count });
    });
  });
}

const REASON = /# SKIP Kapso's OpenAPI document is absent \(.+\); PARLEY_REQUIRE_SHARED=1 makes this a failure$/;

test('without the document: a file all about it is skipped whole, with the reason', async () => {
  const run = await runTests([FILES[0]!], { PARLEY_REQUIRE_SHARED: '' });
  assert.equal(run.code, 0, run.output);
  assert.equal(run.count('fail'), 0, run.output);
  assert.equal(run.count('pass'), 0, run.output);
  assert.ok(run.count('skipped') >= 5, run.output);
  const skips = run.output.split('\n').filter((line) => / # SKIP /.test(line));
  assert.equal(skips.length, run.count('skipped'));
  for (const line of skips) assert.match(line, REASON);
});

test('without the document: a file that checks Kapso along the way runs its tests, one skipped test says what was left out', async () => {
  const run = await runTests([FILES[1]!], { PARLEY_REQUIRE_SHARED: '' });
  assert.equal(run.code, 0, run.output);
  assert.equal(run.count('fail'), 0, run.output);
  assert.equal(run.count('skipped'), 1, run.output);
  assert.ok(run.count('pass') >= 5, run.output);
  assert.match(run.output, /ok \d+ - Marketing preference answers are what Kapso's document describes # SKIP /);
  for (const line of run.output.split('\n').filter((l) => / # SKIP /.test(l))) assert.match(line, REASON);
});

test('PARLEY_REQUIRE_SHARED=1: the absence fails the conformance tests', async () => {
  const run = await runTests([FILES[0]!], { PARLEY_REQUIRE_SHARED: '1' });
  assert.equal(run.code, 1, run.output);
  assert.equal(run.count('skipped'), 0, run.output);
  assert.ok(run.count('fail') >= 1, run.output);
  assert.equal(run.count('pass'), 0, run.output);
  assert.match(run.output, /Kapso's OpenAPI document is missing: expected it at .*no-such-dir/);
});
