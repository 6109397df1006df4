// Which errors mean "the database is unavailable" (503, and a worker that waits) rather than
// "this statement failed" (the request's or the item's own problem).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDatabaseUnavailable } from '../../src/db/errors.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('connection-class errors are recognised', () => {
  for (const error of [
    withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P02'),
    withCode('57P03', 'the database system is starting up'),
    withCode('08006'),
    withCode('08001'),
    withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
    withCode('ECONNRESET'),
    new Error('Connection terminated unexpectedly'),
    new Error('Connection terminated due to connection timeout'),
    new Error('timeout exceeded when trying to connect'),
    new Error('Client has encountered a connection error and is not queryable'),
    new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], ''),
    new Error('wrapped', { cause: withCode('57P01') }),
  ]) {
    assert.equal(isDatabaseUnavailable(error), true, `${(error as Error).message} ${(error as { code?: string }).code ?? ''}`);
  }
});

test('errors of one statement or of the request are not', () => {
  for (const error of [
    withCode('23505', 'duplicate key value violates unique constraint'),
    withCode('22P02', 'invalid input syntax for type uuid: "undefined"'),
    withCode('40001', 'could not serialize access'),
    withCode('42P01', 'relation does not exist'),
    new Error('Internal server error'),
    null,
    'ECONNREFUSED',
  ]) {
    assert.equal(isDatabaseUnavailable(error), false, String(error));
  }
});
