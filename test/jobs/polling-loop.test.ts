// The background loop under a failing pass: it backs off (growing waits, capped) instead of
// running every poll, and logs a repeated error once, then as a count, read from pino's output.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { PollingLoop } from '../../src/jobs/polling-loop.ts';
import { sleep } from '../helpers/receiver.ts';

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const ERROR = 50;
const WARN = 40;

test('the same error repeated is logged once, then as one line with its count; each recovery is logged once', async () => {
  const { logger, lines } = capture();
  const calls: number[] = [];
  const failing = 6;
  const loop = new PollingLoop(async () => {
    calls.push(Date.now());
    if (calls.length <= failing) throw new Error('invalid input syntax for type uuid: "undefined"');
    if (calls.length === failing + 1) return;
    if (calls.length <= failing + 3) throw new Error('another error');
  }, 5, logger, 'test worker', { maxBackoffMs: 40 });
  loop.start();
  const deadline = Date.now() + 5000;
  while (calls.length < failing + 4 && Date.now() < deadline) await sleep(10);
  await loop.stop();
  assert.ok(calls.length >= failing + 4, `ran ${calls.length} passes`);

  const errors = lines.filter((l) => l.level === ERROR);
  assert.deepEqual(errors.map((l) => (l.err as { message: string }).message), ['invalid input syntax for type uuid: "undefined"', 'another error'], 'each error once at error level');
  const counts = lines.filter((l) => l.level === WARN);
  assert.deepEqual(counts.map((l) => l.msg), ['test worker pass failed 5 more times with the same error', 'test worker pass failed 1 more time with the same error']);
  assert.equal(counts[0]!.count, 5);
  const recovered = lines.filter((l) => /recovered/.test(l.msg));
  assert.deepEqual(recovered.map((l) => l.msg), ['test worker pass recovered after 6 failures', 'test worker pass recovered after 2 failures']);
  assert.ok(lines.length <= 6, `few lines in all: ${lines.map((l) => l.msg).join(' | ')}`);
});

test('a failing pass is retried after growing waits, capped, and wakes do not undo the wait; a lasting error is counted now and then', async () => {
  const { logger, lines } = capture();
  const calls: number[] = [];
  const loop = new PollingLoop(async () => {
    calls.push(Date.now());
    throw new Error('down');
  }, 10, logger, 'test worker', { maxBackoffMs: 160, summaryEveryMs: 500 });
  loop.start();
  const waker = setInterval(() => loop.wake(), 2);
  await sleep(1200);
  clearInterval(waker);
  await loop.stop();
  const gaps = calls.slice(1).map((at, i) => at - calls[i]!);
  // Waits 20, 40, 80, 160, 160, …: without backoff the wakes alone would run hundreds of passes.
  assert.ok(calls.length >= 5 && calls.length <= 12, `${calls.length} passes in 1.2 s: ${gaps.join(', ')}`);
  for (const [i, expected] of [20, 40, 80, 160].entries()) assert.ok(gaps[i]! >= expected - 2, `wait ${i + 1}: ${gaps[i]} ms, at least ${expected}`);
  assert.ok(gaps.slice(3).every((gap) => gap < 400), `capped: ${gaps.join(', ')}`);
  assert.equal(lines.filter((l) => l.level === ERROR).length, 1, 'the error once');
  const counted = lines.filter((l) => l.level === WARN);
  // About every 500 ms while it lasts, and once more for the rest when the loop stops.
  assert.ok(counted.length >= 2 && counted.length <= 4, counted.map((l) => l.msg).join(' | '));
  assert.equal(counted.reduce((sum, l) => sum + Number(l.count), 0), calls.length - 1, 'every repeat counted');
});
