// Three real `parley serve` processes on one database share a key's limit: requests spread
// round-robin over them are accepted up to the limit, not three times it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createKey } from '../../src/projects/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { cleanupProcesses, freePort, makeDataDir, type ServerProcess, startParley, stopParley } from '../helpers/process.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const LIMIT = 300;
let database: TestDatabase;
let nodes: ServerProcess[] = [];

before(async () => {
  database = await createTestDatabase();
  const env = { DATABASE_URL: database.url, PARLEY_DATA_DIR: makeDataDir(), PARLEY_SECRET_KEY: randomBytes(32).toString('hex') };
  nodes = await Promise.all([0, 1, 2].map(async () => startParley({ ...env, PORT: String(await freePort()) })));
});
after(async () => {
  await Promise.all(nodes.map((node) => stopParley(node)));
  await database?.drop();
  await cleanupProcesses();
});

test(`a key limited to ${LIMIT}/min accepts ${LIMIT}–${1.1 * LIMIT} requests spread over three nodes`, async (t) => {
  const { key } = await createKey(database.db, 'acme', { rateLimit: LIMIT });
  // Everything below must fall in one minute: start at the next minute when fewer than 25 s are left.
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 35_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 200));
  const minute = Math.floor(Date.now() / 60_000);

  let accepted = 0;
  const refusals: { retryAfter: number; remaining: string | null; limit: string | null; sentAt: number }[] = [];
  const remainingSeen: number[] = [];
  const total = 3 * LIMIT;
  for (let i = 0; i < total; i += 9) {
    await Promise.all(
      Array.from({ length: 9 }, async (_, j) => {
        const node = nodes[(i + j) % 3]!;
        const sentAt = Date.now();
        const response = await fetch(`${node.url}${CONTACTS}`, { headers: { 'x-api-key': key } });
        await response.arrayBuffer();
        if (response.status === 200) {
          accepted += 1;
          assert.equal(response.headers.get('x-ratelimit-limit'), String(LIMIT));
          remainingSeen.push(Number(response.headers.get('x-ratelimit-remaining')));
        } else {
          assert.equal(response.status, 429);
          refusals.push({ retryAfter: Number(response.headers.get('retry-after')), remaining: response.headers.get('x-ratelimit-remaining'), limit: response.headers.get('x-ratelimit-limit'), sentAt });
        }
      }),
    );
  }
  assert.equal(Math.floor(Date.now() / 60_000), minute, 'the requests stayed inside one minute');
  t.diagnostic(`accepted ${accepted} of ${total}; ${refusals.length} refused`);
  assert.ok(accepted >= LIMIT && accepted <= 1.1 * LIMIT, `accepted ${accepted} with a limit of ${LIMIT} on three nodes`);
  assert.ok(remainingSeen.every((r) => r >= 0 && r <= LIMIT));
  assert.ok(refusals.length > 0);
  for (const refusal of refusals) {
    assert.equal(refusal.limit, String(LIMIT));
    assert.equal(refusal.remaining, '0');
    const untilReset = Math.ceil((60_000 - (refusal.sentAt % 60_000)) / 1000);
    assert.ok(Number.isInteger(refusal.retryAfter) && refusal.retryAfter >= 1 && refusal.retryAfter <= untilReset && refusal.retryAfter >= untilReset - 2, `Retry-After ${refusal.retryAfter}, ${untilReset} s left in the minute`);
  }
  const row = await database.db.selectFrom('rate_limit_windows').select('taken').where('window_minute', '=', minute).executeTakeFirstOrThrow();
  assert.ok(row.taken <= LIMIT, 'the database handed out no more than the limit');
});
