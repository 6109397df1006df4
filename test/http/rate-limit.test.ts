// The cluster-wide rate limit's token logic on a real database: several ClusterRateLimiter
// instances on one database are several nodes. A fake clock pins the minute.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createDb, createPool } from '../../src/db/connection.ts';
import { purgeOldRateLimitWindows } from '../../src/http/rate-limit-repo.ts';
import { ClusterRateLimiter } from '../../src/http/rate-limit.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
let clock = 0;
const now = () => clock;
/** A minute start far from today's rows, so that tests never share a window by accident. */
const MINUTE = 60_000;
let keyCount = 0;
const newKey = () => `prl_test${String(++keyCount).padStart(4, '0')}`;

before(async () => {
  database = await createTestDatabase();
});
after(async () => database.drop());

function nodes(count: number): ClusterRateLimiter[] {
  return Array.from({ length: count }, () => new ClusterRateLimiter(database.db, { now }));
}

async function closeAll(limiters: ClusterRateLimiter[]): Promise<void> {
  await Promise.all(limiters.map((l) => l.close()));
}

/** Sends `total` requests in bursts of `burst` concurrent ones, node chosen by `pick`; returns how many were accepted. */
async function send(limiters: ClusterRateLimiter[], key: string, limit: number, total: number, pick: (i: number) => number, burst = 10): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < total; i += burst) {
    const results = await Promise.all(Array.from({ length: Math.min(burst, total - i) }, (_, j) => limiters[pick(i + j)]!.take(key, limit)));
    accepted += results.filter((r) => r >= 0).length;
  }
  return accepted;
}

async function rowTaken(key: string): Promise<number> {
  const row = await database.db.selectFrom('rate_limit_windows').select('taken').where('key_prefix', '=', key).where('window_minute', '=', Math.floor(clock / MINUTE)).executeTakeFirst();
  return row?.taken ?? 0;
}

describe('three nodes on one database', () => {
  const L = 300;
  const spreads: [string, (i: number) => number][] = [
    ['round robin', (i) => i % 3],
    ['70/20/10', (i) => (i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2)],
    ['one node takes 98%', (i) => (i % 50 === 0 ? 1 : i % 50 === 25 ? 2 : 0)],
  ];
  for (const [name, pick] of spreads) {
    test(`${name}: accepted in a minute within [L, 1.1 L] for 3 × L requests`, async () => {
      clock = 1_000 * MINUTE + 1_000;
      const limiters = nodes(3);
      try {
        const key = newKey();
        const accepted = await send(limiters, key, L, 3 * L, pick);
        assert.ok(accepted >= L && accepted <= 1.1 * L, `accepted ${accepted} of limit ${L}`);
        assert.ok((await rowTaken(key)) <= L, 'the database never hands out more than the limit');
      } finally {
        await closeAll(limiters);
      }
    });
  }

  test('tokens held by nodes that went quiet come back to the busy one', async () => {
    clock = 1_001 * MINUTE + 1_000;
    const limiters = nodes(3);
    try {
      const key = newKey();
      // Nodes 1 and 2 see one request each, then nothing: they hold the rest of a batch.
      assert.ok((await limiters[1]!.take(key, L)) >= 0);
      assert.ok((await limiters[2]!.take(key, L)) >= 0);
      let accepted = 2 + (await send(limiters, key, L, 2 * L, () => 0));
      assert.ok(accepted < L, `quiet nodes still hold tokens (${accepted} accepted)`);
      clock += 2_500;
      await Promise.all(limiters.map((l) => l.sweep()));
      accepted += await send(limiters, key, L, L, () => 0);
      assert.equal(accepted, L, 'after the idle hand-back the busy node gets every token left');
    } finally {
      await closeAll(limiters);
    }
  });

  test('the common case answers without waiting on the database', async () => {
    clock = 1_002 * MINUTE + 1_000;
    const [node] = nodes(1);
    try {
      const key = newKey();
      let waited = 0;
      for (let i = 0; i < 2_000; i++) {
        const result = node!.take(key, 1_000_000);
        if (typeof result !== 'number') {
          waited += 1;
          assert.ok((await result) >= 0);
        }
        // Let a background refill land now and then, as request handling would.
        if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(waited <= 20, `${waited} of 2000 requests waited for the database`);
    } finally {
      await node!.close();
    }
  });
});

describe('windows', () => {
  test('a new minute starts afresh; Retry-After counts down to it', async () => {
    clock = 1_010 * MINUTE + 45_500;
    const limiters = nodes(2);
    try {
      const key = newKey();
      assert.equal(await send(limiters, key, 5, 10, (i) => i % 2, 1), 5);
      assert.equal(limiters[0]!.secondsToReset(), 15);
      clock = 1_011 * MINUTE + 100;
      assert.equal(limiters[0]!.secondsToReset(), 60);
      assert.equal(await limiters[0]!.take(key, 5), 4, 'the remaining count starts from the limit again');
      assert.equal(await send(limiters, key, 5, 10, (i) => i % 2, 1), 4);
    } finally {
      await closeAll(limiters);
    }
  });

  test('a node closing hands its unused tokens back', async () => {
    clock = 1_012 * MINUTE + 1_000;
    const [a, b] = nodes(2);
    const key = newKey();
    assert.equal(await a!.take(key, 1_000), 999);
    assert.ok((await rowTaken(key)) > 1, 'the node took a batch');
    await a!.close();
    assert.equal(await rowTaken(key), 1, 'only the spent token stays taken');
    await b!.close();
  });

  // A node knows the tokens handed out as of its last batch: its figure can be high by what it
  // holds plus what the others took since, each batch at most 1/16 of the window's remainder.
  test('the remaining header is high by at most the batches the nodes hold, and ends at 0', async () => {
    clock = 1_013 * MINUTE + 1_000;
    const limiters = nodes(3);
    try {
      const key = newKey();
      let accepted = 0;
      for (let i = 0; i < 600; i++) {
        const remaining = await limiters[i % 3]!.take(key, 200);
        if (remaining >= 0) accepted += 1;
        assert.ok(remaining <= 200 - accepted + 3 * (200 / 16 + 1), `request ${i}: remaining ${remaining}, true ${200 - accepted}`);
        if (accepted === 200 && remaining >= 0) assert.equal(remaining, 0, 'the last accepted request says none are left');
      }
      assert.equal(accepted, 200);
    } finally {
      await closeAll(limiters);
    }
  });

  test('old windows are purged', async () => {
    clock = 1_020 * MINUTE;
    await database.db.insertInto('rate_limit_windows').values([
      { key_prefix: 'prl_purge001', window_minute: 1_018, taken: 1, last_grant: 1 },
      { key_prefix: 'prl_purge001', window_minute: 1_019, taken: 1, last_grant: 1 },
      { key_prefix: 'prl_purge001', window_minute: 1_020, taken: 1, last_grant: 1 },
    ]).execute();
    await purgeOldRateLimitWindows(database.db, new Date(clock));
    const left = await database.db.selectFrom('rate_limit_windows').select('window_minute').where('key_prefix', '=', 'prl_purge001').orderBy('window_minute').execute();
    assert.deepEqual(left.map((r) => r.window_minute), [1_019, 1_020]);
  });
});

describe('database unreachable', () => {
  test('the node counts the limit in memory for the minute', async () => {
    clock = 1_030 * MINUTE + 1_000;
    // Port 9 (discard) is closed: every grant fails as unreachable.
    const pool = createPool('postgres://parley:x@127.0.0.1:9/none', { max: 1 });
    pool.on('error', () => undefined);
    const db = createDb(pool);
    const node = new ClusterRateLimiter(db, { now });
    try {
      const results: number[] = [];
      for (let i = 0; i < 7; i++) results.push(await node.take('prl_offline1', 5));
      assert.deepEqual(results, [4, 3, 2, 1, 0, -1, -1]);
    } finally {
      await node.close();
      await db.destroy();
    }
  });
});

test('the rows are unlogged', async () => {
  const result = await sql<{ relpersistence: string }>`SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_windows'`.execute(database.db);
  assert.equal(result.rows[0]?.relpersistence, 'u');
});

test('a request still waiting for tokens when its minute ends is counted in the new minute, not refused', async () => {
  clock = 3_000 * MINUTE + 59_900;
  const [limiter] = nodes(1) as [ClusterRateLimiter];
  try {
    const key = newKey();
    // The first request waits for the database; before its answer the clock passes the minute and
    // a second request opens the new window.
    const first = limiter.take(key, 1_000_000);
    clock += 200;
    const second = limiter.take(key, 1_000_000);
    assert.ok((await first) >= 0, 'the waiting request is accepted');
    assert.ok((await second) >= 0);
  } finally {
    await limiter.close();
  }
});
