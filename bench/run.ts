// The contacts benchmark (`npm run bench`), start to finish (see bench/README.md):
//   fresh data dir → Parley (own embedded PostgreSQL) → unlimited key → SQL-seeded contacts →
//   GET/PATCH load against Parley and against bench/baseline.ts (same SQL, raw node:http + pg) →
//   grow the table → sequential search latency → RSS → Markdown table, appended to RESULTS.md.
// Everything listens on 127.0.0.1, every phase is bounded, and the run cleans up after itself
// (also on error, on Ctrl-C and when the BENCH_TIMEOUT_MINUTES watchdog fires): bench/lib/.
import path from 'node:path';
import autocannon from 'autocannon';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import type pg from 'pg';
import * as repo from '../src/contacts/repo.ts';
import type { Database } from '../src/db/schema.ts';
import { cpuWindow, fmt, memory, percentile } from './lib/measure.ts';
import { connectEmbedded, createUnlimitedKey, freshDataDir } from './lib/parley.ts';
import { FIRST_NAMES, LAST_NAMES, PHONE_SQL, phoneOf, pick, prng, substringOf } from './lib/people.ts';
import { DATA_ROOT, log, ROOT, runBenchmark, setCurrentLoad, startChild, stopChild, freePort, waitForHttp } from './lib/processes.ts';
import { resetStatements, startParleyForStatements, statementProfile } from './lib/statements.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';

const CONTACTS_PATH = '/platform/v1/whatsapp/contacts';

// ---------------------------------------------------------------------------------------------
// Knobs

const DURATION = knob('BENCH_DURATION', 12);
const ROUNDS = knob('BENCH_ROUNDS', 3);
const WARMUP = knob('BENCH_WARMUP', 3);
const SMALL = knob('BENCH_CONTACTS_SMALL', 100_000);
const LARGE = Math.max(SMALL, knob('BENCH_CONTACTS_LARGE', 1_000_000));
const CONNECTIONS = knob('BENCH_CONNECTIONS', 50);
const SEARCHES = knob('BENCH_SEARCH_REQUESTS', 300);
const TIMEOUT_MINUTES = knob('BENCH_TIMEOUT_MINUTES', 30);
const LABEL = process.env.BENCH_LABEL ?? '';
const KEEP_DATA = process.env.BENCH_KEEP_DATA === '1';
const PROFILE = process.env.BENCH_CPU_PROF === '1';
/** Extra node flags for the Parley process, space-separated (e.g. "--max-semi-space-size=4" to try a smaller young generation). */
const PARLEY_NODE_ARGS = (process.env.BENCH_PARLEY_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
const APPEND = process.env.BENCH_APPEND !== '0';
const OPS = (process.env.BENCH_OPS || 'GET,PATCH').split(',').map((op) => op.trim().toUpperCase());
if (OPS.length === 0 || OPS.some((op) => op !== 'GET' && op !== 'PATCH')) throw new Error('BENCH_OPS must list GET and/or PATCH');
const POOL_SIZE = 20; // Parley's default (src/db/connection.ts); the baseline uses the same.
const RATIO_TARGET = 0.85;
const SEARCH_P99_TARGET_MS = 20;
if (LARGE > 9_000_000) throw new Error('BENCH_CONTACTS_LARGE must be at most 9000000 (1555 + 7 digits)');

// ---------------------------------------------------------------------------------------------
// Seed data: deterministic, so the load generator knows which numbers exist without asking.

/** Inserts contacts numbered from..to (inclusive) into the project, in one statement. */
async function seedContacts(pool: pg.Pool, projectId: string, from: number, to: number): Promise<void> {
  if (to < from) return;
  const start = new Date(Date.now() - 365 * 24 * 3600 * 1000).toISOString();
  await pool.query(
    `INSERT INTO contacts (project_id, wa_id, profile_name, display_name, metadata, created_at, updated_at)
     SELECT $1::uuid, ${PHONE_SQL('g')},
       CASE WHEN g % 20 = 0 THEN NULL
            ELSE w.first[1 + (g * 37) % array_length(w.first, 1)] || ' ' || w.last[1 + (g / 7 + g * 11) % array_length(w.last, 1)] END,
       CASE WHEN g % 4 = 0 THEN 'Customer ' || g END,
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE jsonb_build_object('plan', (ARRAY['free', 'pro', 'business'])[1 + g % 3], 'source', (ARRAY['web', 'import', 'whatsapp', 'api'])[1 + g % 4],
                                    'score', g % 100, 'tags', CASE WHEN g % 3 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END) END,
       c.at, c.at
     FROM generate_series($2::bigint, $3::bigint) AS g
     CROSS JOIN (SELECT $4::text[] AS first, $5::text[] AS last) AS w
     CROSS JOIN LATERAL (SELECT $6::timestamptz + g * interval '31 seconds' AS at) AS c`,
    [projectId, from, to, FIRST_NAMES, LAST_NAMES, start],
  );
}

// ---------------------------------------------------------------------------------------------
// Load and search runs

interface LoadResult {
  target: string;
  op: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  serverCpuUs: number;
  serverSysUs: number;
  pgCpuUs: number;
  clientCpuUs: number;
}

interface Target {
  name: string;
  url: string;
  pid: number;
}

function loadOptions(target: Target, op: 'GET' | 'PATCH', key: string, seconds: number, seed: number) {
  const rand = prng(seed);
  let counter = 0;
  const phone = () => phoneOf(1 + Math.floor(rand() * SMALL));
  const request =
    op === 'GET'
      ? { method: 'GET', setupRequest: (req: { path?: string }) => ({ ...req, path: `${CONTACTS_PATH}/${phone()}` }) }
      : {
          method: 'PATCH',
          setupRequest: (req: { path?: string }) => {
            counter += 1;
            return { ...req, path: `${CONTACTS_PATH}/${phone()}`, body: JSON.stringify({ contact: { metadata: { [`bench_${counter % 8}`]: `v${counter}` } } }) };
          },
        };
  const headers: Record<string, string> = { 'x-api-key': key };
  if (op === 'PATCH') headers['content-type'] = 'application/merge-patch+json';
  return { url: target.url, connections: CONNECTIONS, duration: seconds, headers, requests: [request], timeout: 30 };
}

async function runLoad(target: Target, op: 'GET' | 'PATCH', key: string, postmaster: number, seed: number): Promise<LoadResult> {
  if (WARMUP > 0) {
    const warmup = autocannon(loadOptions(target, op, key, WARMUP, seed + 1));
    setCurrentLoad(warmup);
    await warmup;
  }
  const latencies: number[] = [];
  const cpu = cpuWindow(target.pid, postmaster);
  const load = autocannon(loadOptions(target, op, key, DURATION, seed));
  setCurrentLoad(load);
  load.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  const result = await load;
  setCurrentLoad(null);
  const used = cpu.read();
  latencies.sort((a, b) => a - b);
  const requests = result['2xx'] + result.non2xx;
  const perRequest = (us: number) => (requests > 0 ? us / requests : NaN);
  const row: LoadResult = {
    target: target.name,
    op,
    rps: result.requests.average,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests,
    non2xx: result.non2xx,
    errors: result.errors,
    serverCpuUs: perRequest(used.serverUs),
    serverSysUs: perRequest(used.serverSysUs),
    pgCpuUs: perRequest(used.pgUs),
    clientCpuUs: perRequest(used.clientUs),
  };
  log(`${target.name} ${op}: ${fmt(row.rps, 0)} req/s, p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms, non-2xx ${row.non2xx}, errors ${row.errors}`);
  return row;
}

interface SearchResult {
  label: string;
  /** Whether the p99 < 20 ms target applies (terms long enough for the trigram indexes). */
  targeted: boolean;
  requests: number;
  httpP50: number;
  httpP99: number;
  sqlP50: number;
  sqlP99: number;
  meanRows: number;
  failures: number;
  /** The term of the slowest HTTP request, and its time. */
  slowest: string;
}

const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

async function runSearch(label: string, targeted: boolean, param: 'profile_name_contains' | 'wa_id_contains', terms: string[], baseUrl: string, key: string, pool: pg.Pool, listSql: string, projectId: string): Promise<SearchResult> {
  const http: number[] = [];
  const db: number[] = [];
  let rows = 0;
  let failures = 0;
  let slowest = { term: '', ms: -1 };
  for (const term of terms) {
    const started = performance.now();
    const response = await fetch(`${baseUrl}${CONTACTS_PATH}?${param}=${encodeURIComponent(term)}`, { headers: { 'x-api-key': key } });
    const body = await response.text();
    const ms = performance.now() - started;
    http.push(ms);
    if (ms > slowest.ms) slowest = { term, ms };
    if (response.status !== 200) failures += 1;
    else rows += (JSON.parse(body) as { data: unknown[] }).data.length;
  }
  // The same statement straight through pg: the database's share of the HTTP figure.
  for (const term of terms) {
    const started = performance.now();
    await pool.query(listSql, [projectId, `%${escapeLike(term)}%`, 21]);
    db.push(performance.now() - started);
  }
  http.sort((a, b) => a - b);
  db.sort((a, b) => a - b);
  const result = {
    label,
    targeted,
    requests: terms.length,
    httpP50: percentile(http, 50),
    httpP99: percentile(http, 99),
    sqlP50: percentile(db, 50),
    sqlP99: percentile(db, 99),
    meanRows: rows / Math.max(1, terms.length - failures),
    failures,
    slowest: `"${slowest.term}" (${fmt(slowest.ms, 1)} ms)`,
  };
  log(`search ${label}: HTTP p50 ${fmt(result.httpP50, 2)} ms, p99 ${fmt(result.httpP99, 2)} ms; SQL p50 ${fmt(result.sqlP50, 2)} ms, p99 ${fmt(result.sqlP99, 2)} ms`);
  return result;
}

/** The SQL text and parameters Parley's repo sends, captured without touching the database. */
async function capturedSql(run: (db: Kysely<Database>) => Promise<unknown>): Promise<{ sql: string; parameters: readonly unknown[] }> {
  const holder: { captured?: { sql: string; parameters: readonly unknown[] } } = {};
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (inner) => new PostgresIntrospector(inner),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (event) => {
      holder.captured = { sql: event.query.sql, parameters: event.query.parameters };
    },
  });
  await run(db);
  await db.destroy();
  if (!holder.captured) throw new Error('no query captured');
  return holder.captured;
}

// ---------------------------------------------------------------------------------------------
// The run

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const dataDir = freshDataDir(startedAt);
  log(`data dir ${dataDir}; ${SMALL} then ${LARGE} contacts, ${CONNECTIONS} connections, ${WARMUP}+${DURATION} s per load run`);

  // Parley, with its own embedded PostgreSQL.
  // BENCH_CPU_PROF=1: V8 CPU profile of the Parley process, written when it exits (outside the run dir, which is removed).
  const profileDir = path.join(DATA_ROOT, `profile-${path.basename(dataDir).slice(4)}`);
  const parley = await startParleyForStatements(dataDir, { nodeArgs: [...PARLEY_NODE_ARGS, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])] });
  const parleyUrl = parley.url;
  const key = await createUnlimitedKey(parley, 'bench');
  const { databaseUrl, postmaster, pool } = connectEmbedded(dataDir);
  const projectId = (await pool.query<{ id: string }>(`SELECT id FROM projects WHERE name = 'bench'`)).rows[0]!.id;
  const info = await machine(pool);

  // The baseline builds its statements with Parley's own builders (src/contacts/prepared.ts).
  const profileList = await capturedSql((db) => repo.listContactsByCursor(db, projectId, { profileNameContains: 'x' }, { limit: 20, after: null, before: null }));
  const waList = await capturedSql((db) => repo.listContactsByCursor(db, projectId, { waIdContains: '1' }, { limit: 20, after: null, before: null }));

  log(`seeding ${SMALL} contacts`);
  let seedStarted = performance.now();
  await seedContacts(pool, projectId, 1, SMALL);
  await pool.query('VACUUM ANALYZE contacts');
  const seedSmallSeconds = (performance.now() - seedStarted) / 1000;

  const baselinePort = await freePort();
  const baseline = startChild(
    'baseline',
    ['--import', 'tsx', 'bench/baseline.ts'],
    { DATABASE_URL: databaseUrl, PORT: String(baselinePort), PROJECT_ID: projectId, API_KEY: key },
    path.join(dataDir, 'baseline.log'),
  );
  const baselineUrl = `http://127.0.0.1:${baselinePort}`;
  await waitForHttp(baseline, `${baselineUrl}/`, 60_000);
  log(`baseline (pid ${baseline.proc.pid}) ready at ${baselineUrl}`);

  // Both answer the same contact, and both merge.
  for (const url of [parleyUrl, baselineUrl]) {
    const got = await fetch(`${url}${CONTACTS_PATH}/${phoneOf(2)}`, { headers: { 'x-api-key': key } });
    const body = (await got.json()) as { data?: { wa_id?: string } };
    if (got.status !== 200 || body.data?.wa_id !== phoneOf(2)) throw new Error(`GET check failed on ${url}: ${got.status} ${JSON.stringify(body)}`);
    const patched = await fetch(`${url}${CONTACTS_PATH}/${phoneOf(3)}`, {
      method: 'PATCH',
      headers: { 'x-api-key': key, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ contact: { metadata: { check: url } } }),
    });
    const patchedBody = (await patched.json()) as { data?: { metadata?: Record<string, unknown> } };
    if (patched.status !== 200 || patchedBody.data?.metadata?.check !== url || patchedBody.data.metadata.plan === undefined) {
      throw new Error(`PATCH check failed on ${url}: ${patched.status} ${JSON.stringify(patchedBody)}`);
    }
  }

  const targets: Target[] = [
    { name: 'Parley', url: parleyUrl, pid: parley.pid },
    { name: 'baseline', url: baselineUrl, pid: baseline.proc.pid! },
  ];
  const loads: (LoadResult & { round: number })[] = [];
  // Several rounds, alternating which server goes first: on a shared 2-core VM one run can be
  // off by a third, so the ratio reported is the median of the rounds' ratios.
  const statementProfiles: string[] = [];
  for (const op of OPS as ('GET' | 'PATCH')[]) {
    await resetStatements(pool);
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        // Each run starts from the same state: no dead rows from the previous PATCH run, no checkpoint due.
        await pool.query('VACUUM ANALYZE contacts');
        await pool.query('CHECKPOINT');
        loads.push({ ...(await runLoad(target, op, key, postmaster, (op === 'GET' ? 1 : 2) + round * 10)), round });
      }
    }
    const requests = loads.filter((l) => l.op === op && l.target === 'Parley').reduce((n, l) => n + l.requests, 0);
    statementProfiles.push(...(await statementProfile(pool, requests, `Parley ${op}`, `${op} rounds of both servers with warm-ups (the two send the same SELECT and UPDATE texts), divided by Parley's measured ${op}s`)));
  }
  const memAfterLoad = { parley: memory(targets[0]!.pid), baseline: memory(targets[1]!.pid) };
  await stopChild(baseline, 5_000);

  // Search at scale.
  if (LARGE > SMALL) log(`growing to ${LARGE} contacts`);
  seedStarted = performance.now();
  await seedContacts(pool, projectId, SMALL + 1, LARGE);
  await pool.query('VACUUM ANALYZE contacts');
  const seedLargeSeconds = (performance.now() - seedStarted) / 1000;
  const { rows: sizeRows } = await pool.query<{ table: string; indexes: string }>(
    `SELECT pg_size_pretty(pg_table_size('contacts')) AS table, pg_size_pretty(pg_indexes_size('contacts')) AS indexes`,
  );

  const rand = prng(3);
  const names = [...FIRST_NAMES, ...LAST_NAMES];
  const nameTerms = (count: number, min: number, max: number) =>
    Array.from({ length: count }, () => {
      const term = substringOf(rand, pick(rand, names), min, max);
      return rand() < 0.3 ? term.toLowerCase() : term;
    });
  const digitTerms = (count: number, min: number, max: number) =>
    Array.from({ length: count }, () => substringOf(rand, phoneOf(1 + Math.floor(rand() * LARGE)).slice(4), min, max));
  const fewer = Math.max(20, Math.round(SEARCHES / 6));

  // Warm the caches a little, with terms that are not measured.
  for (const term of [...nameTerms(20, 3, 6), ...digitTerms(20, 4, 7)]) {
    const param = /^\d+$/.test(term) ? 'wa_id_contains' : 'profile_name_contains';
    await (await fetch(`${parleyUrl}${CONTACTS_PATH}?${param}=${encodeURIComponent(term)}`, { headers: { 'x-api-key': key } })).arrayBuffer();
  }
  const fullNames = (count: number) => Array.from({ length: count }, () => `${pick(rand, FIRST_NAMES)} ${pick(rand, LAST_NAMES)}`);
  const byName = (label: string, targeted: boolean, terms: string[]) => runSearch(label, targeted, 'profile_name_contains', terms, parleyUrl, key, pool, profileList.sql, projectId);
  const byDigits = (label: string, targeted: boolean, terms: string[]) => runSearch(label, targeted, 'wa_id_contains', terms, parleyUrl, key, pool, waList.sql, projectId);
  const searches: SearchResult[] = [
    await byName('profile_name_contains, 3–6 chars of a name', true, nameTerms(SEARCHES, 3, 6)),
    await byName('profile_name_contains, full name (few matches)', true, fullNames(fewer)),
    await byDigits('wa_id_contains, 4–7 digits', true, digitTerms(SEARCHES, 4, 7)),
    await byDigits('wa_id_contains, 3 digits', true, digitTerms(fewer, 3, 3)),
    await byName('profile_name_contains, 2 chars (no trigram: known slower)', false, nameTerms(fewer, 2, 2)),
    await byDigits('wa_id_contains, 2 digits (no trigram: known slower)', false, digitTerms(fewer, 2, 2)),
  ];
  const explains: { title: string; plan: string }[] = [];
  for (const [title, sqlText, term] of [
    ['profile_name_contains=silva', profileList.sql, 'silva'],
    ['profile_name_contains=Zanele Dlamini', profileList.sql, 'Zanele Dlamini'],
    [`wa_id_contains=${phoneOf(4242).slice(6)}`, waList.sql, phoneOf(4242).slice(6)],
    ['profile_name_contains=ma (2 chars)', profileList.sql, 'ma'],
  ] as const) {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sqlText}`, [projectId, `%${escapeLike(term)}%`, 21]);
    explains.push({ title, plan: rows.map((r) => r['QUERY PLAN']).join('\n') });
  }
  const memAfterSearch = memory(targets[0]!.pid);
  const loadAtEnd = loadavg();

  // ------------------------------------------------------------------------------------------
  // Report
  const roundRatios = (op: string) =>
    Array.from({ length: ROUNDS }, (_, round) => {
      const p = loads.find((r) => r.target === 'Parley' && r.op === op && r.round === round)!;
      const b = loads.find((r) => r.target === 'baseline' && r.op === op && r.round === round)!;
      return p.rps / b.rps;
    });
  const ratio = (op: string) => {
    const sorted = roundRatios(op).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const verdict = (ok: boolean) => (ok ? 'meets target' : '**below target**');
  const lines: string[] = [];
  lines.push(sectionTitle(startedAt, LABEL), '');
  lines.push(machineLine(info));
  lines.push(`- Load average (1/5/15 min) at start: ${loadAtStart}; at end: ${loadAtEnd}`);
  lines.push(
    `- Config: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per run, pool ${POOL_SIZE} on both servers, ${SMALL.toLocaleString('en')} contacts for load` +
      ` (seeded in ${fmt(seedSmallSeconds)} s), ${LARGE.toLocaleString('en')} for search (grown in ${fmt(seedLargeSeconds)} s; table ${sizeRows[0]!.table}, indexes ${sizeRows[0]!.indexes})`,
  );
  lines.push(`- Baseline statements: built by Parley's own src/contacts/prepared.ts (same SQL, parameters and prepared-statement names)`, '');
  lines.push('### Load: GET and PATCH (merge) /platform/v1/whatsapp/contacts/{phone}', '');
  lines.push('| round | server | request | req/s | p50 ms | p99 ms | requests | non-2xx | errors | server CPU µs/req (kernel part) | PostgreSQL CPU µs/req | load generator CPU µs/req |');
  lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of loads) {
    lines.push(`| ${r.round + 1} | ${r.target} | ${r.op} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.requests} | ${r.non2xx} | ${r.errors} | ${fmt(r.serverCpuUs, 0)} (${fmt(r.serverSysUs, 0)}) | ${fmt(r.pgCpuUs, 0)} | ${fmt(r.clientCpuUs, 0)} |`);
  }
  lines.push('');
  for (const op of OPS) {
    const each = roundRatios(op).map((r) => r.toFixed(2)).join(', ');
    lines.push(`- Parley/baseline ${op}: **${ratio(op).toFixed(2)}** median of ${ROUNDS} rounds (${each}) (target ≥ ${RATIO_TARGET}: ${verdict(ratio(op) >= RATIO_TARGET)})`);
  }
  const bad = loads.filter((r) => r.non2xx > 0 || r.errors > 0);
  lines.push(`- Non-2xx responses and errors: ${bad.length === 0 ? 'none' : `**${bad.map((r) => `${r.target} ${r.op}: ${r.non2xx} non-2xx, ${r.errors} errors`).join('; ')}**`}`, '');
  lines.push(`### Search: GET /platform/v1/whatsapp/contacts?… over ${LARGE.toLocaleString('en')} contacts (sequential, one connection)`, '');
  lines.push('| filter | requests | HTTP p50 ms | HTTP p99 ms | SQL-only p50 ms | SQL-only p99 ms | mean rows returned | failures | slowest HTTP request |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const s of searches) {
    lines.push(`| ${s.label} | ${s.requests} | ${fmt(s.httpP50, 2)} | ${fmt(s.httpP99, 2)} | ${fmt(s.sqlP50, 2)} | ${fmt(s.sqlP99, 2)} | ${fmt(s.meanRows)} | ${s.failures} | ${s.slowest} |`);
  }
  lines.push('');
  for (const s of searches.filter((x) => x.targeted)) lines.push(`- ${s.label}: p99 ${fmt(s.httpP99, 2)} ms (target < ${SEARCH_P99_TARGET_MS} ms: ${verdict(s.httpP99 < SEARCH_P99_TARGET_MS)})`);
  lines.push('', '### Memory (VmRSS, peak VmHWM)', '');
  lines.push(`- Parley after the load runs: ${fmt(memAfterLoad.parley.rss)} MiB (peak ${fmt(memAfterLoad.parley.hwm)} MiB); after the searches: ${fmt(memAfterSearch.rss)} MiB (peak ${fmt(memAfterSearch.hwm)} MiB)`);
  lines.push(`- Baseline after the load runs: ${fmt(memAfterLoad.baseline.rss)} MiB (peak ${fmt(memAfterLoad.baseline.hwm)} MiB)`, '');
  lines.push('<details><summary>EXPLAIN (ANALYZE, BUFFERS) of the list queries Parley sends</summary>', '');
  for (const e of explains) lines.push(`${e.title}:`, '', '```', e.plan, '```', '');
  lines.push('</details>', '');
  lines.push(...statementProfiles);
  const report = lines.join('\n');

  publish(report, APPEND);
  if (PROFILE) log(`CPU profile of Parley goes to ${profileDir} when it exits; summarise it with: node --import tsx bench/profile-summary.ts ${path.relative(ROOT, profileDir)}`);
}


await runBenchmark(main, { timeoutMinutes: TIMEOUT_MINUTES, keepData: KEEP_DATA, logFiles: ['parley.log', 'baseline.log'] });
