// The readable log form and the LOG_FORMAT setting, without processes (logging.test.ts runs them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { chooseFormat, formatEntry } from '../../src/logging.ts';

test('LOG_FORMAT: json, pretty (any case), unset means by terminal; anything else is refused by name', () => {
  assert.equal(loadConfig({}).logFormat, null);
  assert.equal(loadConfig({ LOG_FORMAT: '' }).logFormat, null);
  assert.equal(loadConfig({ LOG_FORMAT: 'JSON' }).logFormat, 'json');
  assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), (error: unknown) => error instanceof ConfigError && /^LOG_FORMAT must be json or pretty, got "xml"$/.test(error.message));
  assert.equal(chooseFormat(null, true), 'pretty');
  assert.equal(chooseFormat(null, false), 'json');
  assert.equal(chooseFormat('json', true), 'json');
  assert.equal(chooseFormat('pretty', false), 'pretty');
});

test('a readable line: time, level, message, then the fields; an error with its stack below', () => {
  const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  assert.equal(
    formatEntry({ level: 30, time, pid: 1, hostname: 'h', reqId: 'r-1', method: 'GET', path: '/a b', status: 200, ok: true, tags: ['x'], msg: 'request' }, false),
    '03:04:05.678 INFO  request reqId=r-1 method=GET path="/a b" status=200 ok=true tags=["x"]\n',
  );
  const err = { type: 'DatabaseError', message: 'boom', stack: 'error: boom\n    at one (a.js:1:1)\n    at two (b.js:2:2)', code: '22021' };
  assert.equal(
    formatEntry({ level: 50, time, pid: 1, hostname: 'h', err, msg: 'unhandled error' }, false),
    '03:04:05.678 ERROR unhandled error err="DatabaseError: boom" err.code=22021\n    at one (a.js:1:1)\n    at two (b.js:2:2)\n',
  );
  assert.match(formatEntry({ level: 40, time, msg: 'careful' }, true), /^\u001b\[2m03:04:05\.678\u001b\[0m \u001b\[33mWARN \u001b\[0m careful\n$/);
});
