// The grouping of writes (src/db/grouped-writes.ts), with plain functions standing in for the
// statements: what goes together, in which order, and what happens when a group fails. The real
// statements are tested where they are used (test/sending/batches.test.ts, test/webhooks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupedWriter, type GroupedWriterOptions } from '../../src/db/grouped-writes.ts';

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });
const away = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

function writer(overrides: Partial<GroupedWriterOptions<number, string>> = {}) {
  const groups: number[][] = [];
  const sizes: number[] = [];
  const w = new GroupedWriter<number, string>({
    maxBatch: 4,
    maxInFlight: 2,
    many: async (items) => {
      groups.push([...items]);
      return items.map((n) => `many ${n}`);
    },
    one: async (n) => {
      groups.push([n]);
      return `one ${n}`;
    },
    onWrite: (size) => sizes.push(size),
    ...overrides,
  });
  return { w, groups, sizes };
}

test('writes made in one tick: two go alone (two in flight), the rest in groups of at most maxBatch, each answered its own result', async () => {
  const { w, groups, sizes } = writer();
  const results = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => w.write(n)));
  assert.deepEqual(results, ['one 1', 'one 2', 'many 3', 'many 4', 'many 5', 'many 6', 'many 7', 'many 8']);
  assert.deepEqual(groups, [[1], [2], [3, 4, 5, 6], [7, 8]]);
  assert.deepEqual(sizes, [1, 1, 4, 2]);
  assert.equal(w.pending, 0);
});

test('a group is sorted with compare before it is written, stably', async () => {
  const { w, groups } = writer({ compare: (a, b) => (a % 10) - (b % 10), maxBatch: 10 });
  await Promise.all([100, 200, 13, 21, 3, 11].map((n) => w.write(n)));
  assert.deepEqual(groups.slice(2), [[21, 11, 13, 3]]);
});

test('a group that fails is written item by item: the bad item fails alone, the others succeed', async () => {
  const failed: number[] = [];
  const { w } = writer({
    many: async () => {
      throw new Error('one row refused');
    },
    one: async (n) => {
      if (n === 5) throw new Error('row 5 refused');
      return `one ${n}`;
    },
    onBatchFailed: (_error, size) => failed.push(size),
  });
  const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((n) => w.write(n)));
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['one 1', 'one 2', 'one 3', 'one 4', 'row 5 refused', 'one 6'],
  );
  assert.deepEqual(failed, [4]);
});

test('a deadlock is retried as a group; an error that fails all (the database away) rejects every item without trying each', async () => {
  let tries = 0;
  const retried = writer({
    many: async (items) => {
      tries += 1;
      if (tries === 1) throw deadlock();
      return items.map((n) => `many ${n}`);
    },
  });
  assert.deepEqual(await Promise.all([1, 2, 3, 4].map((n) => retried.w.write(n))), ['one 1', 'one 2', 'many 3', 'many 4']);
  assert.equal(tries, 2);

  let alone = 0;
  const down = writer({
    many: async () => {
      throw away();
    },
    one: async (n) => {
      alone += 1;
      if (n <= 2) throw away();
      return `one ${n}`;
    },
    failsAll: (error) => (error as { code?: string }).code === 'ECONNREFUSED',
  });
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => down.w.write(n)));
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(alone, 2, 'only the two written alone in the first place');
});
