// Substring search over more contacts than the first walk reads (src/contacts/repo.ts
// listContactsByCursor): a term common enough to be walked further, one whose longer walk still
// falls short, and a rare one that goes to the trigram index must all page through every match
// exactly once, newest first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BASE = '/platform/v1/whatsapp/contacts';
const TOTAL = 30_000;
let t: TestApp;

/** Positions from the newest (0) that carry each term in their profile name. */
const PLACED: Record<string, number[]> = {
  // 12 in the newest 5,000 (enough for a longer walk), 15 more within the next 12,000: the longer walk fills the page.
  zebu: [...range(12, (i) => 100 + i * 400), ...range(15, (i) => 5200 + i * 700)],
  // 12 in the newest 5,000 and 3 beyond any walk: the longer walk falls short, the trigram index answers.
  gnux: [...range(12, (i) => 150 + i * 400), 25_000, 26_000, 29_990],
  // 3 in the newest 5,000 and 30 deep: rare, straight to the trigram index.
  yakk: [...range(3, (i) => 10 + i * 1000), ...range(30, (i) => 21_000 + i * 250)],
};

function range(count: number, at: (i: number) => number): number[] {
  return Array.from({ length: count }, (_, i) => at(i));
}

before(async () => {
  t = await startTestApp();
  const projectId = (await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow()).id;
  // Position p from the newest has created_at start + (TOTAL - p) seconds; its name carries the terms placed there.
  const names = new Map<number, string>();
  for (const [term, positions] of Object.entries(PLACED)) for (const p of positions) names.set(p, `${names.get(p) ?? 'Filler'} ${term}`);
  await sql`
    INSERT INTO contacts (project_id, wa_id, profile_name, created_at)
    SELECT ${projectId}::uuid, (15550000000 + g)::text, coalesce(n.name, 'Filler ' || g), timestamptz '2025-01-01T00:00:00Z' + (${TOTAL}::int - g) * interval '1 second'
    FROM generate_series(0, ${TOTAL - 1}::int) AS g
    LEFT JOIN unnest(${[...names.keys()]}::int[], ${[...names.values()]}::text[]) AS n(position, name) ON n.position = g`.execute(t.database.db);
  await sql`ANALYZE contacts`.execute(t.database.db);
});
after(async () => t.close());

/** Every page of the search, followed with `after`; the positions (from wa_id) in order. */
async function searchAll(term: string, limit: number): Promise<number[]> {
  const names: number[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res = await t.request({ method: 'GET', url: `${BASE}?profile_name_contains=${term}&limit=${limit}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}` });
    assert.equal(res.status, 200, res.text);
    names.push(...res.body.data.map((c: { wa_id: string }) => Number(c.wa_id) - 15550000000));
    cursor = res.body.paging.next;
    if (cursor === null) return names;
  }
  throw new Error('search did not end');
}

for (const [term, positions] of Object.entries(PLACED)) {
  test(`profile_name_contains=${term}: every match once, newest first, in pages of 20 and of 7`, async () => {
    const expected = [...positions].sort((a, b) => a - b);
    for (const limit of [20, 7]) {
      const found = await searchAll(term.toUpperCase(), limit);
      assert.deepEqual(found, expected);
    }
  });
}

test('the first page of a common term is full and says more follow', async () => {
  const res = await t.request({ method: 'GET', url: `${BASE}?profile_name_contains=zebu` });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.length, 20);
  assert.notEqual(res.body.paging.next, null);
});
