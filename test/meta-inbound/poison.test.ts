// A stored Meta body whose processing fails is retried after a wait, then parked as `failed` with its error
// in `note`, while the bodies around it in the same batch, and later ones, are processed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type ConnectedNumber, connectNumber, drain, freshUser, textBody } from '../helpers/meta.ts';

let t: TestApp;
let number: ConnectedNumber;
before(async () => {
  t = await startTestApp();
  number = await connectNumber(t);
});
after(async () => t?.close());

async function store(body: unknown): Promise<number> {
  const row = await t.database.db.insertInto('meta_events').values({ body: JSON.stringify(body) }).returning('id').executeTakeFirstOrThrow();
  return Number(row.id);
}

const stateOf = (id: number) => t.database.db.selectFrom('meta_events').select(['state', 'attempts', 'note']).where('id', '=', id).executeTakeFirstOrThrow();

test('a body that cannot be processed is retried, then parked as failed with its error; the others are processed', async () => {
  const before = await store(textBody(number.phoneNumberId, { ...freshUser(), text: 'before' }).body);
  // A time no date can hold: processing this body fails on every attempt.
  const poison = await store(textBody(number.phoneNumberId, { ...freshUser(), timestamp: '1e20' }).body);
  const beside = await store(textBody(number.phoneNumberId, { ...freshUser(), text: 'beside' }).body);

  await drain(t.database.db);
  for (const id of [before, beside]) assert.equal((await stateOf(id)).state, 'processed', 'the bodies of the same batch are processed');
  const first = await stateOf(poison);
  assert.equal(first.state, 'pending', 'kept for another attempt');
  assert.equal(first.attempts, 1);
  assert.ok(first.note && first.note.length > 0, 'the error is kept');

  await drain(t.database.db);
  assert.equal((await stateOf(poison)).attempts, 1, 'the next attempt waits (backoff)');
  for (let i = 0; i < 10 && (await stateOf(poison)).state === 'pending'; i++) {
    await sql`UPDATE meta_events SET next_attempt_at = now() WHERE id = ${poison}`.execute(t.database.db);
    await drain(t.database.db);
  }
  const parked = await stateOf(poison);
  assert.equal(parked.state, 'failed');
  assert.equal(parked.attempts, 5);
  assert.equal(parked.note, first.note, 'the error stays readable');

  const later = await store(textBody(number.phoneNumberId, { ...freshUser(), text: 'later' }).body);
  await drain(t.database.db);
  assert.equal((await stateOf(later)).state, 'processed');
  assert.equal((await stateOf(poison)).attempts, 5, 'a failed body is not read again');
});
