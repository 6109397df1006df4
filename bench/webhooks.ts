// The outbound webhooks benchmark (`npm run bench:webhooks`), start to finish (see bench/README.md):
//   fresh data dir → Parley with PARLEY_ALLOW_PRIVATE_WEBHOOKS=true (own embedded PostgreSQL) →
//   unlimited key → bench/webhook-receiver.ts as a child process → a project webhook for
//   whatsapp.contact.created/updated pointing at it (through the API) →
//   "burst": N contacts inserted in SQL in chunks (one transaction each; the contacts trigger writes
//   one outbox row per contact) → wait until every event has arrived at the receiver →
//   "steady": single-row display_name UPDATEs at a fixed rate → wait again → verify signatures,
//   missing and duplicate deliveries → where the time goes → Markdown table, appended to RESULTS.md.
// Everything listens on 127.0.0.1, every phase is bounded, and the run cleans up after itself.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { createPool } from '../src/db/connection.ts';
import type { Database } from '../src/db/schema.ts';
import { insertDeliveries, lockUndispatchedEvents, markDispatched, targetsOf } from '../src/webhooks/outbox-repo.ts';
import { renderEvent } from '../src/webhooks/payloads.ts';
import { type ActivitySample, activitySummary } from './lib/inbound-diagnostics.ts';
import { type CpuUsed, cpuTicks, cpuWindow, fmt, memory, percentile, TICK_US } from './lib/measure.ts';
import { connectEmbedded, createUnlimitedKey, freshDataDir, startParley } from './lib/parley.ts';
import { PHONE_SQL } from './lib/people.ts';
import { DATA_ROOT, freePort, log, runBenchmark, sleep, startChild, trackPool, waitForHttp } from './lib/processes.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';

const EVENTS = knob('BENCH_WEBHOOK_EVENTS', 20_000);
const CHUNK = Math.max(1, Math.min(knob('BENCH_WEBHOOK_CHUNK', 1_000), EVENTS));
const RATE = knob('BENCH_WEBHOOK_RATE', 500);
const STEADY_SECONDS = knob('BENCH_WEBHOOK_STEADY_SECONDS', 10);
const DRAIN_TIMEOUT_S = knob('BENCH_WEBHOOK_DRAIN_TIMEOUT', 300);
const TIMEOUT_MINUTES = knob('BENCH_TIMEOUT_MINUTES', 30);
const LABEL = process.env.BENCH_LABEL ?? '';
const KEEP_DATA = process.env.BENCH_KEEP_DATA === '1';
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const APPEND = process.env.BENCH_APPEND !== '0';
const TARGET_PER_S = 1_000;
const POLL_MS = 100;
const STEADY_EVENTS = RATE * STEADY_SECONDS;
const CREATED = 'whatsapp.contact.created';
const UPDATED = 'whatsapp.contact.updated';
if (EVENTS < 1) throw new Error('BENCH_WEBHOOK_EVENTS must be ≥ 1');
if (EVENTS > 9_000_000) throw new Error('BENCH_WEBHOOK_EVENTS must be at most 9000000');
if (STEADY_EVENTS > EVENTS) throw new Error('BENCH_WEBHOOK_RATE × BENCH_WEBHOOK_STEADY_SECONDS must be at most BENCH_WEBHOOK_EVENTS (each steady update changes its own contact)');

/** Wall clock in epoch ms with sub-millisecond resolution (the receiver uses the same). */
const wallNow = () => performance.timeOrigin + performance.now();

type ReceiverRecord = [number, string, 0 | 1, string];
interface ReceiverStats {
  count: number;
  invalid: number;
  connections: number;
  maxOpen: number;
}

interface Sample {
  t: number;
  undispatched: number;
  pending: number;
  received: number;
  activity: ActivitySample[];
}

interface Observation {
  /** Wall clock when production started / ended. */
  start: number;
  producedAt: number;
  /** Wall clock when the drain was seen complete (or the timeout hit). */
  seenDone: number;
  samples: Sample[];
  cpu: CpuUsed;
  receiverUs: number;
  stats: ReceiverStats;
  records: ReceiverRecord[];
  counters: { commits: number; walBytes: number };
}

async function receiver<T>(url: string, what: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${url}${what}`, init);
  if (!response.ok) throw new Error(`receiver ${what}: ${response.status}`);
  return response.status === 204 ? (undefined as T) : ((await response.json()) as T);
}

async function dbCounters(pool: pg.Pool): Promise<{ commits: number; walBytes: number }> {
  const { rows } = await pool.query<{ commits: number; wal: number }>(
    `SELECT xact_commit::float8 AS commits, (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 AS wal FROM pg_stat_database WHERE datname = current_database()`,
  );
  return { commits: rows[0]!.commits, walBytes: rows[0]!.wal };
}

/**
 * Runs `produce` with the CPU window and a 100 ms poller (outbox backlog, pending deliveries,
 * Parley's connections, the receiver's count) around it, then waits until `expected` requests
 * have arrived and nothing is left to dispatch or deliver (at most DRAIN_TIMEOUT_S).
 */
async function observe(
  pool: pg.Pool,
  receiverUrl: string,
  pids: { parley: number; postmaster: number; receiver: number },
  expected: number,
  produce: () => Promise<void>,
): Promise<Observation> {
  await pool.query('CHECKPOINT');
  await receiver(receiverUrl, '/reset', { method: 'POST' });
  await sleep(1_500); // statistics of earlier transactions are flushed
  const countersBefore = await dbCounters(pool);
  const samples: Sample[] = [];
  let polling = true;
  const poll = async () => {
    while (polling) {
      const t = wallNow();
      const [{ rows }, stats] = await Promise.all([
        pool.query<{ undispatched: number; pending: number; activity: ActivitySample[] }>(
          `SELECT (SELECT count(*)::int FROM webhook_events WHERE dispatched_at IS NULL AND dead_at IS NULL) AS undispatched,
                  (SELECT count(*)::int FROM webhook_deliveries WHERE status = 'pending') AS pending,
                  (SELECT coalesce(json_agg(json_build_object('state', state, 'wait', coalesce(wait_event_type || ':' || wait_event, ''), 'query', left(query, 48))), '[]')
                     FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
                       AND application_name NOT LIKE 'bench%') AS activity`,
        ),
        receiver<ReceiverStats>(receiverUrl, '/stats'),
      ]);
      samples.push({ t, undispatched: rows[0]!.undispatched, pending: rows[0]!.pending, received: stats.count, activity: rows[0]!.activity });
      await sleep(Math.max(0, POLL_MS - (wallNow() - t)));
    }
  };
  const receiverBefore = cpuTicks(pids.receiver);
  const cpu = cpuWindow(pids.parley, pids.postmaster);
  const start = wallNow();
  const poller = poll();
  let producedAt = NaN;
  let seenDone = NaN;
  let used: CpuUsed;
  let receiverUs: number;
  try {
    await produce();
    producedAt = wallNow();
    for (const deadline = Date.now() + DRAIN_TIMEOUT_S * 1000; Date.now() < deadline; ) {
      const last = samples.at(-1);
      if (last && last.t > producedAt && last.received >= expected && last.undispatched === 0 && last.pending === 0) {
        seenDone = last.t;
        break;
      }
      await sleep(POLL_MS / 4);
    }
    used = cpu.read();
    const receiverAfter = cpuTicks(pids.receiver);
    receiverUs = (receiverAfter.user + receiverAfter.sys - receiverBefore.user - receiverBefore.sys) * TICK_US;
  } finally {
    polling = false;
    await poller;
  }
  if (!Number.isFinite(seenDone)) {
    log(`not everything arrived within ${DRAIN_TIMEOUT_S} s (BENCH_WEBHOOK_DRAIN_TIMEOUT); reporting what did`);
    seenDone = wallNow();
  }
  await sleep(1_500);
  const countersAfter = await dbCounters(pool);
  const stats = await receiver<ReceiverStats>(receiverUrl, '/stats');
  const records = await receiver<ReceiverRecord[]>(receiverUrl, '/records');
  return {
    start,
    producedAt,
    seenDone,
    samples,
    cpu: used,
    receiverUs,
    stats,
    records,
    counters: { commits: countersAfter.commits - countersBefore.commits, walBytes: countersAfter.walBytes - countersBefore.walBytes },
  };
}

interface EventRow {
  id: string;
  created_ms: number;
  dispatched_ms: number | null;
  contact_id: string;
  chunk: number | null;
}
interface DeliveryRow {
  key: string;
  created_ms: number;
  claimed_ms: number | null;
  delivered_ms: number | null;
  status: string;
  attempts: number;
}

async function eventsOf(pool: pg.Pool, event: string, sinceMs: number): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    `SELECT e.id::text AS id, extract(epoch FROM e.created_at)::float8 * 1000 AS created_ms, extract(epoch FROM e.dispatched_at)::float8 * 1000 AS dispatched_ms,
            e.subject->>'contact_id' AS contact_id, (c.metadata->>'bench_chunk')::int AS chunk
       FROM webhook_events e LEFT JOIN contacts c ON c.id = (e.subject->>'contact_id')::uuid
      WHERE e.event = $1 AND e.created_at >= to_timestamp($2::float8 / 1000)`,
    [event, sinceMs],
  );
  return rows;
}

async function deliveriesOf(pool: pg.Pool, keys: string[]): Promise<DeliveryRow[]> {
  const { rows } = await pool.query<DeliveryRow>(
    `SELECT idempotency_key AS key, extract(epoch FROM created_at)::float8 * 1000 AS created_ms, extract(epoch FROM last_attempt_at)::float8 * 1000 AS claimed_ms,
            extract(epoch FROM delivered_at)::float8 * 1000 AS delivered_ms, status, attempt_count AS attempts
       FROM webhook_deliveries WHERE idempotency_key = ANY($1::text[])`,
    [keys],
  );
  return rows;
}

async function attemptDurations(pool: pg.Pool, keys: string[]): Promise<{ p50: number; p99: number; errors: number }> {
  const { rows } = await pool.query<{ p50: number; p99: number; errors: number }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY a.duration_ms)::float8 AS p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY a.duration_ms)::float8 AS p99,
            count(*) FILTER (WHERE a.error IS NOT NULL)::int AS errors
       FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.idempotency_key = ANY($1::text[])`,
    [keys],
  );
  return rows[0]!;
}

const pct = (list: number[]) => {
  const sorted = [...list].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, n: sorted.length };
};

/** Groups of equal timestamps (= one transaction's now()); gaps between consecutive full groups. */
function batches(times: number[]): { count: number; mean: number; size: number; full: number; gapP50: number; gapP90: number } {
  const groups = new Map<number, number>();
  for (const t of times) groups.set(t, (groups.get(t) ?? 0) + 1);
  const ordered = [...groups].sort((a, b) => a[0] - b[0]);
  const size = Math.max(0, ...ordered.map(([, n]) => n));
  const gaps: number[] = [];
  for (let i = 0; i + 1 < ordered.length; i++) if (ordered[i]![1] === size) gaps.push(ordered[i + 1]![0] - ordered[i]![0]);
  gaps.sort((a, b) => a - b);
  return { count: ordered.length, mean: times.length / Math.max(1, ordered.length), size, full: ordered.filter(([, n]) => n === size).length, gapP50: percentile(gaps, 50), gapP90: percentile(gaps, 90) };
}

interface ScenarioResult {
  name: string;
  events: number;
  produceSeconds: number;
  producedPerS: number;
  perS: number;
  afterProductionPerS: number;
  peakPerS: number;
  commitLatency: ReturnType<typeof pct>;
  createdLatency: ReturnType<typeof pct>;
  stages: { dispatch: ReturnType<typeof pct>; claim: ReturnType<typeof pct>; send: ReturnType<typeof pct>; record: ReturnType<typeof pct> };
  missing: number;
  invalid: number;
  duplicateKeys: number;
  extraRequests: number;
  unknownKeys: number;
  failedDeliveries: number;
  retried: number;
  cpu: { server: number; sys: number; pg: number; receiver: number; client: number };
  lines: string[];
}

/** Joins what the receiver saw with the outbox and the deliveries; `commitOf` gives each event's commit time. */
async function analyse(name: string, pool: pg.Pool, obs: Observation, events: EventRow[], commitOf: (e: EventRow) => number, firstCommitStart: number): Promise<ScenarioResult> {
  const byKey = new Map(events.map((e) => [e.id, e]));
  const received = new Map<string, number>(); // key → first receipt
  const seen = new Map<string, number>();
  let unknownKeys = 0;
  for (const [t, key] of obs.records) {
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (!byKey.has(key)) unknownKeys += 1;
    const first = received.get(key);
    if (first === undefined || t < first) received.set(key, t);
  }
  const keys = events.map((e) => e.id);
  const deliveries = new Map((await deliveriesOf(pool, keys)).map((d) => [d.key, d]));
  const commitLat: number[] = [];
  const createdLat: number[] = [];
  const dispatch: number[] = [];
  const claim: number[] = [];
  const send: number[] = [];
  const record: number[] = [];
  let missing = 0;
  let lastReceipt = -Infinity;
  for (const e of events) {
    const at = received.get(e.id);
    if (at === undefined) {
      missing += 1;
      continue;
    }
    lastReceipt = Math.max(lastReceipt, at);
    const commit = commitOf(e);
    commitLat.push(at - commit);
    createdLat.push(at - e.created_ms);
    const d = deliveries.get(e.id);
    if (d) {
      dispatch.push(d.created_ms - commit);
      if (d.claimed_ms !== null) {
        claim.push(d.claimed_ms - d.created_ms);
        send.push(at - d.claimed_ms);
      }
      if (d.delivered_ms !== null) record.push(d.delivered_ms - at);
    }
  }
  const lastCommit = Math.max(...events.map(commitOf));
  const deliveredAfterProduction = [...received.values()].filter((t) => t > lastCommit).length;
  const perSecond = new Map<number, number>();
  for (const t of received.values()) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  const fullSeconds = [...perSecond.keys()].sort((a, b) => a - b).slice(1, -1); // whole seconds only
  const delivered = events.length - missing;
  const per = (us: number) => us / Math.max(1, delivered);
  const duplicateKeys = [...seen.values()].filter((n) => n > 1).length;
  const all = [...deliveries.values()];
  const attempts = await attemptDurations(pool, keys);
  const dispatcherBatches = batches(events.filter((e) => e.dispatched_ms !== null).map((e) => e.dispatched_ms!));
  const claims = batches(all.filter((d) => d.claimed_ms !== null && d.attempts === 1).map((d) => d.claimed_ms!));
  const maxUndispatched = Math.max(0, ...obs.samples.map((s) => s.undispatched));
  const maxPending = Math.max(0, ...obs.samples.map((s) => s.pending));
  const lines = [
    `- **${name}** — outbox (dispatcher, src/webhooks/dispatcher.ts, batches of up to 100 events in one transaction): ${dispatcherBatches.count} batches, ${fmt(dispatcherBatches.mean, 1)} events each on average` +
      ` (largest ${dispatcherBatches.size}, ${dispatcherBatches.full} of that size); from one full batch's start to the next: p50 ${fmt(dispatcherBatches.gapP50, 1)} ms, p90 ${fmt(dispatcherBatches.gapP90, 1)} ms` +
      ` → ${fmt(dispatcherBatches.gapP50 / Math.max(1, dispatcherBatches.size), 2)} ms per event, at most ${fmt((dispatcherBatches.size / dispatcherBatches.gapP50) * 1000, 0)} events/s for the one dispatcher loop`,
    `  - delivery worker (src/webhooks/delivery-worker.ts, claims up to 50, sends them concurrently, claims again when all 50 are recorded): ${claims.count} claims, ${fmt(claims.mean, 1)} deliveries each on average` +
      ` (largest ${claims.size}, ${claims.full} of that size); from one full claim to the next: p50 ${fmt(claims.gapP50, 1)} ms, p90 ${fmt(claims.gapP90, 1)} ms → at most ${fmt((claims.size / claims.gapP50) * 1000, 0)} deliveries/s for the one worker loop`,
    `  - attempts as Parley timed them (webhook_attempts.duration_ms: connect + POST + answer): p50 ${fmt(attempts.p50, 0)} ms, p99 ${fmt(attempts.p99, 0)} ms, ${attempts.errors} with an error;` +
      ` the receiver accepted ${obs.stats.connections.toLocaleString('en')} TCP connections for ${obs.records.length.toLocaleString('en')} requests (${fmt(obs.stats.connections / Math.max(1, obs.records.length), 2)} per request), at most ${obs.stats.maxOpen} open at once (the orchestrator's keep-alive poll connection included)`,
    `  - backlog (sampled every ${POLL_MS} ms): at most ${maxUndispatched.toLocaleString('en')} outbox rows not yet dispatched and ${maxPending.toLocaleString('en')} deliveries pending;` +
      ` whole database per delivery: ${fmt(obs.counters.commits / Math.max(1, delivered), 2)} commits, ${fmt(obs.counters.walBytes / Math.max(1, delivered), 0)} bytes of WAL`,
    ...activitySummary(
      obs.samples.map((s) => ({ t: s.t, activity: s.activity })),
      obs.producedAt,
    ).map((line) => `  ${line.replace('while posting', 'while producing').replace('drain after posting', 'after production ended')}`),
  ];
  const result: ScenarioResult = {
    name,
    events: events.length,
    produceSeconds: (lastCommit - firstCommitStart) / 1000,
    producedPerS: events.length / Math.max(1e-3, (lastCommit - firstCommitStart) / 1000),
    perS: delivered / ((lastReceipt - firstCommitStart) / 1000),
    afterProductionPerS: deliveredAfterProduction / Math.max(1e-3, (lastReceipt - lastCommit) / 1000),
    peakPerS: Math.max(0, ...fullSeconds.map((s) => perSecond.get(s)!)),
    commitLatency: pct(commitLat),
    createdLatency: pct(createdLat),
    stages: { dispatch: pct(dispatch), claim: pct(claim), send: pct(send), record: pct(record) },
    missing,
    invalid: obs.stats.invalid,
    duplicateKeys,
    extraRequests: obs.records.length - received.size,
    unknownKeys,
    failedDeliveries: all.filter((d) => d.status === 'failed').length,
    retried: all.filter((d) => d.attempts > 1).length,
    cpu: { server: per(obs.cpu.serverUs), sys: per(obs.cpu.serverSysUs), pg: per(obs.cpu.pgUs), receiver: per(obs.receiverUs), client: per(obs.cpu.clientUs) },
    lines,
  };
  log(
    `${name}: ${delivered}/${events.length} delivered, ${fmt(result.perS, 0)}/s (after production ${fmt(result.afterProductionPerS, 0)}/s, peak ${result.peakPerS}/s);` +
      ` commit→receipt p50 ${fmt(result.commitLatency.p50, 1)} ms p99 ${fmt(result.commitLatency.p99, 1)} ms; invalid ${result.invalid}, duplicates ${duplicateKeys}, missing ${missing}`,
  );
  return result;
}

class RollbackSignal extends Error {}

/**
 * The statements the dispatcher sends per event: `count` contact updates in a transaction (the
 * trigger writes their outbox rows, seen by nobody else), then the dispatcher's own loop over
 * them — lockUndispatchedEvents, targetsOf, renderEvent, insertDeliveries per event, markDispatched
 * (the same calls, in the same order, as WebhookDispatcher.batch) — every statement timed, all
 * rolled back.
 */
async function dispatcherStatements(databaseUrl: string, contactIds: string[]): Promise<string[]> {
  const own = createPool(databaseUrl, { max: 1, applicationName: 'bench' });
  trackPool(own);
  let capture = false;
  const captured: { sql: string; ms: number }[] = [];
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: own }),
    log: (event) => {
      if (capture && event.level === 'query') captured.push({ sql: event.query.sql.replace(/\s+/g, ' ').trim().slice(0, 80), ms: event.queryDurationMillis });
    },
  });
  let wallMs = 0;
  let handled = 0;
  try {
    await db.transaction().execute(async (tx) => {
      await sql`UPDATE contacts SET display_name = 'diagnostic ' || id WHERE id = ANY(${contactIds}::uuid[])`.execute(tx);
      capture = true;
      const started = performance.now();
      const events = await lockUndispatchedEvents(tx, contactIds.length);
      for (const event of events) {
        const webhooks = await targetsOf(tx, event);
        if (webhooks.length === 0) continue;
        const rendered = await renderEvent(tx, event);
        if (!rendered) continue;
        const body = JSON.stringify(rendered.body);
        for (const webhook of webhooks) {
          await insertDeliveries(tx, [{ projectId: event.project_id, webhook, event: event.event, phoneNumberId: event.phone_number_id, conversationId: rendered.conversationId, conversationPhoneNumber: rendered.conversationPhoneNumber, idempotencyKey: event.id, body }]);
        }
      }
      await markDispatched(tx, events.map((e) => e.id));
      wallMs = performance.now() - started;
      handled = events.length;
      capture = false;
      throw new RollbackSignal();
    });
  } catch (error) {
    if (!(error instanceof RollbackSignal)) throw error;
  } finally {
    await db.destroy();
  }
  const byStatement = new Map<string, number[]>();
  for (const q of captured) byStatement.set(q.sql, [...(byStatement.get(q.sql) ?? []), q.ms]);
  const inStatements = captured.reduce((s, q) => s + q.ms, 0);
  const lines = [
    `- Dispatcher statements, counted by running its calls (lockUndispatchedEvents → per event targetsOf, renderEvent, insertDeliveries → markDispatched; src/webhooks/dispatcher.ts) on ${handled} outbox rows` +
      ` written by ${contactIds.length} contact updates, one connection, in a rolled-back transaction after the runs (no other Parley load; the machine may still be busy):` +
      ` ${fmt(captured.length / Math.max(1, handled), 2)} statements and ${fmt(wallMs / Math.max(1, handled), 2)} ms per event, of which ${fmt(inStatements / Math.max(1, handled), 2)} ms waiting for statements` +
      ` → at most ${fmt((handled / wallMs) * 1000, 0)} events/s for one dispatcher loop on a quiet server`,
    '',
    '| dispatcher statement (start) | per event | mean ms |',
    '|---|---:|---:|',
  ];
  for (const [text, ms] of byStatement) lines.push(`| \`${text.replace(/\|/g, '\\|')}\` | ${fmt(ms.length / Math.max(1, handled), 2)} | ${fmt(ms.reduce((s, v) => s + v, 0) / ms.length, 3)} |`);
  return lines;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const dataDir = freshDataDir(startedAt);
  log(`data dir ${dataDir}; burst of ${EVENTS} contact.created events in chunks of ${CHUNK}, then ${RATE}/s contact.updated for ${STEADY_SECONDS} s`);

  const profileDir = `${DATA_ROOT}/profile-webhooks-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
  const parley = await startParley(dataDir, { env: { PARLEY_ALLOW_PRIVATE_WEBHOOKS: 'true' }, nodeArgs: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
  const key = await createUnlimitedKey(parley, 'bench');
  const { databaseUrl, postmaster, pool } = connectEmbedded(dataDir);
  const projectId = (await pool.query<{ id: string }>(`SELECT id FROM projects WHERE name = 'bench'`)).rows[0]!.id;
  const info = await machine(pool);
  const { rows: settings } = await pool.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections') ORDER BY name`,
  );

  // The receiver, in its own process.
  const secret = randomBytes(24).toString('hex');
  const receiverPort = await freePort();
  const receiverChild = startChild('receiver', ['--import', 'tsx', 'bench/webhook-receiver.ts'], { PORT: String(receiverPort), SECRET: secret }, path.join(dataDir, 'receiver.log'));
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  await waitForHttp(receiverChild, `${receiverUrl}/stats`, 60_000);
  const receiverPid = receiverChild.proc.pid!;
  log(`receiver (pid ${receiverPid}) ready at ${receiverUrl}`);
  // The receiver's check is not vacuous: a wrongly signed request counts as invalid.
  await (await fetch(`${receiverUrl}/hook`, { method: 'POST', headers: { 'x-webhook-signature': 'ab'.repeat(32), 'x-idempotency-key': 'check' }, body: '{}' })).arrayBuffer();
  if ((await receiver<ReceiverStats>(receiverUrl, '/stats')).invalid !== 1) throw new Error('the receiver did not flag a wrongly signed request');

  // The webhook, through the API.
  const created = await fetch(`${parley.url}/platform/v1/whatsapp/webhooks`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ whatsapp_webhook: { url: `${receiverUrl}/hook`, secret_key: secret, events: [CREATED, UPDATED] } }),
  });
  const webhook = (await created.json()) as { data?: { id: string } };
  if (created.status !== 201 || !webhook.data) throw new Error(`creating the webhook: ${created.status} ${JSON.stringify(webhook)}`);

  // One event end to end before measuring (also warms Parley's code paths).
  await pool.query(`INSERT INTO contacts (project_id, wa_id, profile_name, metadata) VALUES ($1, '15550000000', 'Warm Up', '{"bench_chunk": -1}')`, [projectId]);
  for (const deadline = Date.now() + 30_000; ; ) {
    const stats = await receiver<ReceiverStats>(receiverUrl, '/stats');
    if (stats.count >= 2) {
      if (stats.invalid !== 1) throw new Error('the warm-up delivery had an invalid signature');
      break;
    }
    if (Date.now() > deadline) throw new Error('the warm-up event did not arrive within 30 s');
    await sleep(50);
  }
  log('warm-up event delivered with a valid signature');
  const pids = { parley: parley.pid, postmaster, receiver: receiverPid };

  // ------------------------------------------------------------------------------------------
  // Burst: N contacts in chunks, one transaction each; each chunk's commit time is recorded.
  const chunkCommit: number[] = [];
  let burstStart = NaN;
  const chunks = Math.ceil(EVENTS / CHUNK);
  log(`burst: ${EVENTS} contacts in ${chunks} transactions`);
  const burst = await observe(pool, receiverUrl, pids, EVENTS, async () => {
    const client = await pool.connect();
    try {
      burstStart = wallNow();
      for (let k = 0; k < chunks; k++) {
        const from = 1 + k * CHUNK;
        const to = Math.min(EVENTS, (k + 1) * CHUNK);
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO contacts (project_id, wa_id, profile_name, metadata)
           SELECT $1::uuid, ${PHONE_SQL('g')}, 'Bench ' || g, jsonb_build_object('bench_chunk', $4::int)
           FROM generate_series($2::bigint, $3::bigint) AS g`,
          [projectId, from, to, k],
        );
        await client.query('COMMIT');
        chunkCommit[k] = wallNow();
      }
    } finally {
      client.release();
    }
  });
  const burstEvents = (await eventsOf(pool, CREATED, burst.start - 1_000)).filter((e) => e.chunk !== null && e.chunk >= 0);
  if (burstEvents.length !== EVENTS) throw new Error(`expected ${EVENTS} outbox rows for the burst, found ${burstEvents.length}`);
  const burstResult = await analyse('burst', pool, burst, burstEvents, (e) => chunkCommit[e.chunk!]!, burstStart);

  // ------------------------------------------------------------------------------------------
  // Steady: single-row UPDATEs (autocommit) of distinct contacts at a fixed rate.
  const { rows: targets } = await pool.query<{ id: string }>(
    `SELECT id::text AS id FROM contacts WHERE project_id = $1 AND (metadata->>'bench_chunk')::int >= 0 ORDER BY wa_id LIMIT $2`,
    [projectId, STEADY_EVENTS + 100],
  );
  const steadyIds = targets.slice(0, STEADY_EVENTS).map((r) => r.id);
  const diagnosticIds = targets.slice(STEADY_EVENTS).map((r) => r.id);
  const loadPool = createPool(databaseUrl, { max: 4, applicationName: 'bench-load' });
  trackPool(loadPool);
  await Promise.all(Array.from({ length: 4 }, () => loadPool.query('SELECT 1')));
  const commitByContact = new Map<string, number>();
  let steadyStart = NaN;
  let steadyErrors = 0;
  let maxQueued = 0;
  log(`steady: ${RATE} updates/s for ${STEADY_SECONDS} s`);
  const steady = await observe(pool, receiverUrl, pids, STEADY_EVENTS, async () => {
    const interval = 1000 / RATE;
    const inFlight = new Set<Promise<void>>();
    steadyStart = wallNow();
    let i = 0;
    while (i < STEADY_EVENTS) {
      const now = wallNow();
      while (i < STEADY_EVENTS && steadyStart + i * interval <= now) {
        const id = steadyIds[i]!;
        const n = i;
        const p: Promise<void> = loadPool
          .query(`UPDATE contacts SET display_name = $2 WHERE id = $1`, [id, `Steady ${n}`])
          .then(
            () => void commitByContact.set(id, wallNow()),
            () => void (steadyErrors += 1),
          )
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        i += 1;
      }
      maxQueued = Math.max(maxQueued, inFlight.size);
      await sleep(1);
    }
    await Promise.all(inFlight);
  });
  if (steadyErrors > 0) throw new Error(`${steadyErrors} steady updates failed`);
  const steadyEvents = (await eventsOf(pool, UPDATED, steady.start - 1_000)).filter((e) => commitByContact.has(e.contact_id));
  if (steadyEvents.length !== STEADY_EVENTS) throw new Error(`expected ${STEADY_EVENTS} outbox rows for the steady run, found ${steadyEvents.length}`);
  const steadyResult = await analyse(`steady ${RATE}/s`, pool, steady, steadyEvents, (e) => commitByContact.get(e.contact_id)!, steadyStart);

  const mem = memory(parley.pid);
  const loadAtEnd = loadavg();
  const statements = await dispatcherStatements(databaseUrl, diagnosticIds);

  // ------------------------------------------------------------------------------------------
  // Report
  const results = [burstResult, steadyResult];
  const correct = results.every((r) => r.missing === 0 && r.invalid === 0 && r.unknownKeys === 0 && r.failedDeliveries === 0);
  const ms = (v: number) => fmt(v, 1);
  const lines: string[] = [];
  lines.push(sectionTitle(startedAt, `outbound webhooks${LABEL ? ` — ${LABEL}` : ''}`), '');
  lines.push(machineLine(info));
  lines.push(`- PostgreSQL settings: ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
  lines.push(`- Load average (1/5/15 min) at start: ${loadAtStart}; at end: ${loadAtEnd}`);
  lines.push(
    `- Config: one project webhook (whatsapp.contact.created + whatsapp.contact.updated, with a secret) pointing at bench/webhook-receiver.ts, a node:http child process on 127.0.0.1 that answers 200 at once and checks every signature with its own HMAC code;` +
      ` burst = ${EVENTS.toLocaleString('en')} contacts INSERTed in SQL in ${chunks} transactions of ${CHUNK.toLocaleString('en')} (the contacts trigger writes one outbox row each), as fast as PostgreSQL takes them;` +
      ` steady = ${STEADY_EVENTS.toLocaleString('en')} single-row display_name UPDATEs (autocommit, 4 connections) scheduled at ${RATE}/s for ${STEADY_SECONDS} s; one Parley process (one dispatcher, one delivery worker); the outbox, deliveries and receiver are polled every ${POLL_MS} ms`,
  );
  lines.push('');
  lines.push('| scenario | events | produced in s (/s) | **deliveries/s** (first commit → last receipt) | after production ended /s | peak 1 s | commit → receipt p50 / p99 / max ms | outbox created_at → receipt p50 / p99 ms | not delivered | invalid signatures | keys received more than once |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    lines.push(
      `| ${r.name} | ${r.events.toLocaleString('en')} | ${fmt(r.produceSeconds, 2)} (${fmt(r.producedPerS, 0)}) | **${fmt(r.perS, 0)}** | ${fmt(r.afterProductionPerS, 0)} | ${r.peakPerS} |` +
        ` ${ms(r.commitLatency.p50)} / ${ms(r.commitLatency.p99)} / ${ms(r.commitLatency.max)} | ${ms(r.createdLatency.p50)} / ${ms(r.createdLatency.p99)} | ${r.missing} | ${r.invalid} | ${r.duplicateKeys} |`,
    );
  }
  lines.push('');
  lines.push('| scenario | commit → delivery row (dispatcher) p50 / p99 ms | delivery row → claimed p50 / p99 | claimed → received p50 / p99 | received → recorded delivered p50 / p99 |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const r of results) {
    const s = r.stages;
    lines.push(`| ${r.name} | ${ms(s.dispatch.p50)} / ${ms(s.dispatch.p99)} | ${ms(s.claim.p50)} / ${ms(s.claim.p99)} | ${ms(s.send.p50)} / ${ms(s.send.p99)} | ${ms(s.record.p50)} / ${ms(s.record.p99)} |`);
  }
  lines.push('');
  lines.push('| CPU µs per delivery (first commit → all received) | Parley server (kernel part) | PostgreSQL | receiver | orchestrator (producer + poller) |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const r of results) lines.push(`| ${r.name} | ${fmt(r.cpu.server, 0)} (${fmt(r.cpu.sys, 0)}) | ${fmt(r.cpu.pg, 0)} | ${fmt(r.cpu.receiver, 0)} | ${fmt(r.cpu.client, 0)} |`);
  lines.push('');
  lines.push(`- Deliveries/s (burst): **${fmt(burstResult.perS, 0)}** (target ≥ ${TARGET_PER_S.toLocaleString('en')}: ${burstResult.perS >= TARGET_PER_S ? 'meets target' : '**below target**'})`);
  lines.push(
    `- Correctness: ${correct ? 'all checks pass' : '**FAILED**'} — ` +
      results
        .map((r) => `${r.name}: ${r.missing} not delivered, ${r.invalid} invalid signatures, ${r.unknownKeys} requests with an unknown key, ${r.failedDeliveries} deliveries failed, ${r.retried} retried, ${r.duplicateKeys} keys received more than once (${r.extraRequests} extra requests)`)
        .join('; '),
  );
  lines.push(`- Steady producer: at most ${maxQueued} updates in flight or waiting for one of its 4 connections at once; ${steadyErrors} errors. Parley memory after the runs: ${fmt(mem.rss)} MiB (peak ${fmt(mem.hwm)} MiB)`);
  lines.push('- Latency: "commit" is when the producing transaction\'s COMMIT returned to the orchestrator (the chunk\'s, in the burst); "created_at" is the outbox row\'s clock_timestamp() inside that transaction. Receipt times come from the receiver process (same clock).', '');
  lines.push('### Where the time goes', '');
  for (const r of results) lines.push(...r.lines);
  lines.push('', ...statements, '');
  publish(lines.join('\n'), APPEND);
  if (PROFILE) log(`CPU profile of Parley goes to ${profileDir} when it exits`);
  if (!correct) throw new Error('correctness checks failed (see the section)');
}

await runBenchmark(main, { timeoutMinutes: TIMEOUT_MINUTES, keepData: KEEP_DATA, logFiles: ['parley.log', 'receiver.log'] });
