// The outbox benchmark (`npm run bench:outbox`, see bench/README.md): does a write that queues
// outbox rows cost throughput? PATCH /whatsapp/contacts/{phone} with 50 connections, in
// alternating rounds with 0 and with BENCH_WEBHOOKS (5) active project webhooks subscribed to
// contact events (pointing at bench/webhook-receiver.ts). Target: the rounds with webhooks reach
// ≥ 0.9 × the requests/s of the rounds without. Also reported per run: CPU µs per request of
// Parley and of PostgreSQL, and what PostgreSQL backends waited on (pg_stat_activity sampled
// every 50 ms: a NOTIFY in the writers' transactions shows up as Lock/object waits at commit).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import autocannon from 'autocannon';
import type pg from 'pg';
import { connectEmbedded, createUnlimitedKey, freshDataDir, startParley } from './lib/parley.ts';
import { cpuWindow, fmt, percentile } from './lib/measure.ts';
import { FIRST_NAMES, LAST_NAMES, PHONE_SQL, phoneOf, prng } from './lib/people.ts';
import { log, runBenchmark, setCurrentLoad, setDataDir, sleep, startChild, waitForHttp, freePort } from './lib/processes.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';

const CONTACTS = knob('BENCH_CONTACTS', 100_000);
const DURATION = knob('BENCH_DURATION', 10);
const WARMUP = knob('BENCH_WARMUP', 2);
const ROUNDS = knob('BENCH_ROUNDS', 3);
const CONNECTIONS = knob('BENCH_CONNECTIONS', 50);
const WEBHOOKS = knob('BENCH_WEBHOOKS', 5);
const APPEND = process.env.BENCH_APPEND !== '0';
const LABEL = process.env.BENCH_LABEL ?? '';
const CONTACTS_PATH = '/platform/v1/whatsapp/contacts';
const TARGET = 0.9;

interface Run {
  round: number;
  webhooks: number;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  serverUs: number;
  pgUs: number;
  /** Share of sampled active backends by wait event ("CPU" when none). */
  waits: Map<string, number>;
  samples: number;
  drainSeconds: number;
}

async function seed(pool: pg.Pool, projectId: string): Promise<void> {
  await pool.query(
    `INSERT INTO contacts (project_id, wa_id, profile_name, metadata)
     SELECT $1::uuid, ${PHONE_SQL('g')}, $3::text[] || ' ' || $4::text[], jsonb_build_object('score', g % 100)
     FROM generate_series(1, $2::bigint) AS g`.replace(`$3::text[] || ' ' || $4::text[]`, `($3::text[])[1 + g % ${FIRST_NAMES.length}] || ' ' || ($4::text[])[1 + g % ${LAST_NAMES.length}]`),
    [projectId, CONTACTS, FIRST_NAMES, LAST_NAMES],
  );
  await pool.query('VACUUM ANALYZE contacts');
}

function patchLoad(url: string, key: string, seconds: number, seed: number) {
  const rand = prng(seed);
  let counter = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 30,
    headers: { 'x-api-key': key, 'content-type': 'application/merge-patch+json' },
    requests: [{
      method: 'PATCH',
      setupRequest: (req: { path?: string }) => {
        counter += 1;
        return { ...req, path: `${CONTACTS_PATH}/${phoneOf(1 + Math.floor(rand() * CONTACTS))}`, body: JSON.stringify({ contact: { metadata: { [`bench_${counter % 8}`]: `v${counter}` } } }) };
      },
    }],
  });
}

async function api(url: string, key: string, method: string, body: unknown): Promise<any> {
  const response = await fetch(url, { method, headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const parsed = await response.json();
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

/** Waits until the outbox and the deliveries are empty; returns how long that took. */
async function drained(pool: pg.Pool): Promise<number> {
  const started = performance.now();
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM webhook_events WHERE dispatched_at IS NULL AND dead_at IS NULL) + (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')::int AS n`,
    );
    if (Number(rows[0]!.n) === 0) return (performance.now() - started) / 1000;
    if (performance.now() - started > 300_000) throw new Error('the outbox did not drain within 5 minutes');
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const dataDir = freshDataDir(startedAt);
  setDataDir(dataDir);
  const load0 = loadavg();
  const parley = await startParley(dataDir, { env: { PARLEY_ALLOW_PRIVATE_WEBHOOKS: 'true' } });
  const key = await createUnlimitedKey(parley, 'bench');
  const { postmaster, pool } = connectEmbedded(dataDir);
  const projectId = (await pool.query<{ id: string }>(`SELECT id FROM projects WHERE name = 'bench'`)).rows[0]!.id;
  const info = await machine(pool);
  log(`seeding ${CONTACTS} contacts`);
  await seed(pool, projectId);

  const secret = randomBytes(24).toString('hex');
  const receiverPort = await freePort();
  const receiverChild = startChild('receiver', ['--import', 'tsx', 'bench/webhook-receiver.ts'], { PORT: String(receiverPort), SECRET: secret }, path.join(dataDir, 'receiver.log'));
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  await waitForHttp(receiverChild, `${receiverUrl}/stats`, 60_000);
  const hooks: string[] = [];
  for (let i = 0; i < WEBHOOKS; i += 1) {
    const made = await api(`${parley.url}/platform/v1/whatsapp/webhooks`, key, 'POST', {
      whatsapp_webhook: { url: `${receiverUrl}/hook`, secret_key: secret, events: ['whatsapp.contact.created', 'whatsapp.contact.updated'], active: false },
    });
    hooks.push(made.data.id);
  }
  const setActive = async (active: boolean) => {
    for (const id of hooks) await api(`${parley.url}/platform/v1/whatsapp/webhooks/${id}`, key, 'PATCH', { whatsapp_webhook: { active } });
  };

  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = round % 2 === 1 ? [0, WEBHOOKS] : [WEBHOOKS, 0];
    for (const webhooks of order) {
      await setActive(webhooks > 0);
      await drained(pool);
      await pool.query('VACUUM ANALYZE contacts');
      await pool.query('CHECKPOINT');
      await sleep(500); // every node has seen the webhook change (outbox-signal.ts refreshes on it)
      if (WARMUP > 0) {
        const warm = patchLoad(parley.url, key, WARMUP, round * 100 + webhooks + 1);
        setCurrentLoad(warm);
        await warm;
        await drained(pool);
      }
      const latencies: number[] = [];
      const waits = new Map<string, number>();
      let samples = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await pool.query<{ wait: string }>(
            `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait FROM pg_stat_activity
             WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND application_name <> 'bench'`,
          );
          for (const r of rows) waits.set(r.wait, (waits.get(r.wait) ?? 0) + 1);
          samples += rows.length;
          await sleep(50);
        }
      })();
      const cpu = cpuWindow(parley.pid, postmaster);
      const run = patchLoad(parley.url, key, DURATION, round * 100 + webhooks);
      setCurrentLoad(run);
      run.on('response', (_c: unknown, _s: number, _b: number, ms: number) => latencies.push(ms));
      const result = await run;
      setCurrentLoad(null);
      const used = cpu.read();
      sampling = false;
      await sampler;
      const drainSeconds = await drained(pool);
      latencies.sort((a, b) => a - b);
      const requests = result['2xx'] + result.non2xx;
      const row: Run = {
        round, webhooks, rps: result.requests.average, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests, non2xx: result.non2xx, errors: result.errors,
        serverUs: used.serverUs / requests, pgUs: used.pgUs / requests, waits, samples, drainSeconds,
      };
      runs.push(row);
      log(`round ${round}, ${webhooks} webhooks: ${fmt(row.rps, 0)} req/s, p99 ${fmt(row.p99, 1)} ms, Parley ${fmt(row.serverUs, 0)} µs/req, PostgreSQL ${fmt(row.pgUs, 0)} µs/req, drained ${fmt(drainSeconds, 1)} s after`);
    }
  }
  const stats = await (await fetch(`${receiverUrl}/stats`)).json() as { count: number; invalid: number };

  const ratios = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const without = runs.find((r) => r.round === round && r.webhooks === 0)!;
    const withHooks = runs.find((r) => r.round === round && r.webhooks > 0)!;
    ratios.push(withHooks.rps / without.rps);
  }
  ratios.sort((a, b) => a - b);
  const ratio = ratios[Math.floor(ratios.length / 2)]!;
  const topWaits = (r: Run) =>
    [...r.waits.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([w, n]) => `${w} ${fmt((100 * n) / Math.max(r.samples, 1), 0)} %`).join(', ');
  const lines = [
    sectionTitle(startedAt, `outbox: PATCH with and without webhooks${LABEL ? ` — ${LABEL}` : ''}`), '',
    machineLine(info),
    `- Config: ${CONTACTS.toLocaleString('en')} contacts, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s (after ${WARMUP} s warm-up) alternating 0 and ${WEBHOOKS} active project webhooks (contact.created + contact.updated) to bench/webhook-receiver.ts; load average ${load0} at the start, ${loadavg()} at the end`,
    `- **Requests/s with ${WEBHOOKS} webhooks ÷ without: ${fmt(ratio, 2)}** (median of the rounds' ratios ${ratios.map((r) => fmt(r, 2)).join(', ')}; target ≥ ${TARGET})`,
    `- The receiver got ${stats.count.toLocaleString('en')} deliveries (${stats.invalid} wrongly signed)`, '',
    '| round | webhooks | req/s | p50 ms | p99 ms | requests | non-2xx / errors | Parley CPU µs/req | PostgreSQL CPU µs/req | outbox drained after | active backends waited on (share of samples) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map((r) => `| ${r.round} | ${r.webhooks} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.requests} | ${r.non2xx} / ${r.errors} | ${fmt(r.serverUs, 0)} | ${fmt(r.pgUs, 0)} | ${fmt(r.drainSeconds, 1)} s | ${topWaits(r)} |`),
    '',
  ];
  publish(lines.join('\n'), APPEND);
}

await runBenchmark(main, { timeoutMinutes: knob('BENCH_TIMEOUT_MINUTES', 20), keepData: process.env.BENCH_KEEP_DATA === '1', logFiles: [] });
