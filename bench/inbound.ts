// The inbound benchmark (`npm run bench:inbound`), start to finish (see bench/README.md):
//   fresh data dir → Parley with PARLEY_META_APP_SECRET (own embedded PostgreSQL) → customer and
//   connected number through the API → N signed Meta text-message bodies, generated in advance →
//   POST /webhooks/meta with autocannon as fast as Parley accepts → poll the pending queue until
//   it is empty → verify messages, contacts and conversations → Markdown table, appended to RESULTS.md.
// Everything listens on 127.0.0.1, every phase is bounded, and the run cleans up after itself.
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { inboundTextBody } from '../src/meta-inbound/simulate.ts';
import { signBody } from '../src/meta-inbound/signature.ts';
import { activitySummary, queriesPerMessage, tableCounters, type ActivitySample, type BatchStats, batchStats } from './lib/inbound-diagnostics.ts';
import { type CpuUsed, cpuWindow, fmt, memory, percentile } from './lib/measure.ts';
import { connectEmbedded, createUnlimitedKey, freshDataDir, startParley } from './lib/parley.ts';
import { FIRST_NAMES, LAST_NAMES, phoneOf, prng } from './lib/people.ts';
import { DATA_ROOT, log, runBenchmark, setCurrentLoad, sleep } from './lib/processes.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';

const MESSAGES = knob('BENCH_INBOUND_MESSAGES', 20_000);
const KNOWN = knob('BENCH_INBOUND_KNOWN', 2_000);
const NEW_PERCENT = knob('BENCH_INBOUND_NEW_PERCENT', 30);
const CONNECTIONS = Math.min(knob('BENCH_CONNECTIONS', 50), MESSAGES);
const DRAIN_TIMEOUT_S = knob('BENCH_INBOUND_DRAIN_TIMEOUT', 600);
const TIMEOUT_MINUTES = knob('BENCH_TIMEOUT_MINUTES', 30);
const LABEL = process.env.BENCH_LABEL ?? '';
const KEEP_DATA = process.env.BENCH_KEEP_DATA === '1';
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const APPEND = process.env.BENCH_APPEND !== '0';
const TARGET_PROCESSED_PER_S = 2_000;
const POLL_MS = 100;
const PHONE_NUMBER_ID = '106540352242922';
if (MESSAGES < 1 || KNOWN < 1 || NEW_PERCENT > 100) throw new Error('BENCH_INBOUND_MESSAGES and BENCH_INBOUND_KNOWN must be ≥ 1, BENCH_INBOUND_NEW_PERCENT ≤ 100');
if (KNOWN + MESSAGES > 9_000_000) throw new Error('BENCH_INBOUND_KNOWN + BENCH_INBOUND_MESSAGES must be at most 9000000');

const TEXTS = ['Hola, ¿tienen disponibilidad mañana?', 'Hi! Is my order on its way?', 'Obrigado pelo atendimento 🙏', 'Can I change my delivery address?', 'ok', 'Quanto custa o frete para SP?', 'Bonjour, je voudrais réserver une table pour 4.', 'Thanks!'];
const nameOf = (n: number) => `${FIRST_NAMES[(n * 37) % FIRST_NAMES.length]} ${LAST_NAMES[(Math.floor(n / 7) + n * 11) % LAST_NAMES.length]}`;

interface Plan {
  bodies: { body: Buffer; signature: string }[];
  newContacts: number;
  knownMessages: number;
  distinctUsers: number;
}

/** N bodies, one message each: ~NEW_PERCENT % from unique new numbers, the rest from a pool of KNOWN numbers that write again and again. */
function plan(secret: string): Plan {
  const rand = prng(7);
  const run = randomBytes(4).toString('hex');
  const users = new Set<number>();
  const now = Math.floor(Date.now() / 1000);
  let fresh = 0;
  const bodies = Array.from({ length: MESSAGES }, (_, i) => {
    const person = rand() * 100 < NEW_PERCENT ? KNOWN + 1 + fresh++ : 1 + Math.floor(rand() * KNOWN);
    users.add(person);
    const text = `${TEXTS[i % TEXTS.length]} #${i}`;
    const wamid = `wamid.HBgL${Buffer.from(`${run}-${String(i).padStart(8, '0')}-bench`).toString('base64url')}`;
    const body = Buffer.from(JSON.stringify(inboundTextBody({ phoneNumberId: PHONE_NUMBER_ID, displayPhoneNumber: '15550001234', from: phoneOf(person), name: nameOf(person), text, wamid, timestamp: now })));
    return { body, signature: signBody(body, secret) };
  });
  return { bodies, newContacts: fresh, knownMessages: MESSAGES - fresh, distinctUsers: users.size };
}

async function api(url: string, key: string, path: string, body: unknown): Promise<{ id?: string; phone_number_id?: string }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await response.json()) as { data?: { id?: string; phone_number_id?: string } };
  if (response.status !== 201 || !answer.data) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer.data;
}

const perMessage = (used: CpuUsed, count: number) => ({ server: used.serverUs / count, sys: used.serverSysUs / count, pg: used.pgUs / count, client: used.clientUs / count });
const addCpu = (a: CpuUsed, b: CpuUsed): CpuUsed => ({ serverUs: a.serverUs + b.serverUs, serverSysUs: a.serverSysUs + b.serverSysUs, pgUs: a.pgUs + b.pgUs, clientUs: a.clientUs + b.clientUs });

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const dataDir = freshDataDir(startedAt);
  log(`data dir ${dataDir}; ${MESSAGES} messages (${NEW_PERCENT} % new contacts, ${KNOWN} known numbers), ${CONNECTIONS} connections`);

  const secret = randomBytes(32).toString('hex');
  const profileDir = `${DATA_ROOT}/profile-inbound-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
  const parley = await startParley(dataDir, { env: { PARLEY_META_APP_SECRET: secret }, nodeArgs: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
  const key = await createUnlimitedKey(parley, 'bench');
  const { databaseUrl, postmaster, pool } = connectEmbedded(dataDir);
  const info = await machine(pool);
  const { rows: settings } = await pool.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'max_connections') ORDER BY name`,
  );

  const customer = await api(parley.url, key, '/platform/v1/customers', { customer: { name: 'Bench customer' } });
  const number = await api(parley.url, key, `/platform/v1/customers/${customer.id}/whatsapp/phone_numbers`, {
    whatsapp_phone_number: { name: 'Bench number', phone_number_id: PHONE_NUMBER_ID, business_account_id: '102290129340398', access_token: `EAAB${randomBytes(24).toString('hex')}`, display_phone_number: '+1 555-000-1234' },
  });
  if (number.phone_number_id !== PHONE_NUMBER_ID) throw new Error(`unexpected phone number answer ${JSON.stringify(number)}`);

  log(`generating and signing ${MESSAGES} bodies`);
  const generated = plan(secret);
  const meanBytes = generated.bodies.reduce((sum, b) => sum + b.body.length, 0) / MESSAGES;
  // A wrongly signed body is refused and not stored.
  const refused = await fetch(`${parley.url}/webhooks/meta`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(generated.bodies[0]!.body, 'wrong') }, body: new Uint8Array(generated.bodies[0]!.body) });
  await refused.arrayBuffer();
  if (refused.status !== 401) throw new Error(`a wrongly signed body got ${refused.status}, expected 401`);
  await pool.query('CHECKPOINT');
  const tablesBefore = await tableCounters(pool);

  // Poll the queue (and what Parley's connections are doing) every POLL_MS, from the first POST on.
  const samples: { t: number; pending: number; accepted: number; activity: ActivitySample[] }[] = [];
  let accepted = 0;
  let polling = true;
  const poll = async () => {
    while (polling) {
      const t = performance.now();
      const { rows } = await pool.query<{ pending: number; activity: ActivitySample[] }>(
        `SELECT (SELECT count(*)::int FROM meta_events WHERE state = 'pending') AS pending,
                (SELECT coalesce(json_agg(json_build_object('state', state, 'wait', coalesce(wait_event_type || ':' || wait_event, ''), 'query', left(query, 48))), '[]')
                   FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'bench') AS activity`,
      );
      samples.push({ t, pending: rows[0]!.pending, accepted, activity: rows[0]!.activity });
      await sleep(Math.max(0, POLL_MS - (performance.now() - t)));
    }
  };

  const latencies: number[] = [];
  let next = 0;
  const load = autocannon({
    url: parley.url,
    connections: CONNECTIONS,
    amount: MESSAGES,
    timeout: 60,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/webhooks/meta',
        setupRequest: (req) => {
          const item = generated.bodies[next++ % MESSAGES]!;
          return { ...req, body: item.body, headers: { ...req.headers, 'x-hub-signature-256': item.signature } };
        },
      },
    ],
  });
  const t0 = performance.now();
  const cpuPost = cpuWindow(parley.pid, postmaster);
  const poller = poll();
  setCurrentLoad(load);
  load.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    if (status >= 200 && status < 300) accepted += 1;
  });
  const result = await load;
  setCurrentLoad(null);
  const tPostEnd = performance.now();
  const usedPost = cpuPost.read();
  const cpuDrain = cpuWindow(parley.pid, postmaster);
  const { rows: atPostEnd } = await pool.query<{ n: number; ms: number }>(
    `SELECT count(*)::int AS n, extract(epoch FROM clock_timestamp())::float8 * 1000 AS ms FROM meta_events WHERE state = 'pending'`,
  );
  const pendingAtPostEnd = atPostEnd[0]!.n;
  const postSeconds = (tPostEnd - t0) / 1000;
  log(`posted ${MESSAGES} in ${fmt(postSeconds, 2)} s (${fmt(accepted / postSeconds, 0)} accepted/s), ${result.non2xx} non-2xx, ${result.errors} errors; ${pendingAtPostEnd} pending`);

  // Drain: until the queue is empty (the poller keeps sampling), with a timeout.
  let tEmpty = NaN;
  for (const deadline = Date.now() + DRAIN_TIMEOUT_S * 1000; Date.now() < deadline; ) {
    const last = samples.at(-1);
    if (last && last.t > tPostEnd && last.pending === 0) {
      tEmpty = last.t;
      break;
    }
    await sleep(POLL_MS / 4);
  }
  const usedDrain = cpuDrain.read();
  polling = false;
  await poller;
  if (!Number.isFinite(tEmpty)) throw new Error(`the queue was not empty ${DRAIN_TIMEOUT_S} s after posting ended (BENCH_INBOUND_DRAIN_TIMEOUT)`);
  const totalSeconds = (tEmpty - t0) / 1000;
  const drainSeconds = (tEmpty - tPostEnd) / 1000;
  const mem = memory(parley.pid);
  const loadAtEnd = loadavg();
  log(`queue empty ${fmt(totalSeconds, 2)} s after the first POST: ${fmt(MESSAGES / totalSeconds, 0)} processed/s`);

  // Correctness.
  await sleep(1500); // lets every backend flush its table statistics
  const { rows: checks } = await pool.query<{ messages: number; failed: number; processed: number; skipped: number; contacts: number; conversations: number; counted: number }>(
    `SELECT (SELECT count(*)::int FROM messages) AS messages,
            (SELECT count(*)::int FROM meta_events WHERE state = 'failed') AS failed,
            (SELECT count(*)::int FROM meta_events WHERE state = 'processed') AS processed,
            (SELECT count(*)::int FROM meta_events WHERE state = 'skipped') AS skipped,
            (SELECT count(*)::int FROM contacts) AS contacts,
            (SELECT count(*)::int FROM conversations) AS conversations,
            (SELECT coalesce(sum(messages_count), 0)::int FROM conversations) AS counted`,
  );
  const c = checks[0]!;
  const verdicts = [
    { what: 'messages stored', got: c.messages, want: MESSAGES },
    { what: 'events processed', got: c.processed, want: MESSAGES },
    { what: 'events failed', got: c.failed, want: 0 },
    { what: 'events skipped', got: c.skipped, want: 0 },
    { what: 'contacts', got: c.contacts, want: generated.distinctUsers },
    { what: 'conversations (one per contact)', got: c.conversations, want: generated.distinctUsers },
    { what: 'sum of conversations.messages_count', got: c.counted, want: MESSAGES },
  ];
  const correct = verdicts.every((v) => v.got === v.want) && result.non2xx === 0 && result.errors === 0;
  const tablesAfter = await tableCounters(pool);
  const batches: BatchStats = await batchStats(pool, atPostEnd[0]!.ms);
  const activity = activitySummary(samples, tPostEnd);
  const queries = await queriesPerMessage(pool, databaseUrl, PHONE_NUMBER_ID, { known: phoneOf(1), knownName: nameOf(1), fresh: (i) => phoneOf(KNOWN + MESSAGES + 10 + i) });

  // ------------------------------------------------------------------------------------------
  // Report
  latencies.sort((a, b) => a - b);
  const total = perMessage(addCpu(usedPost, usedDrain), MESSAGES);
  const drain = pendingAtPostEnd > 0 ? perMessage(usedDrain, pendingAtPostEnd) : null;
  const processed = MESSAGES / totalSeconds;
  const drainRate = pendingAtPostEnd / drainSeconds;
  const processedWhilePosting = (MESSAGES - pendingAtPostEnd) / postSeconds;
  const maxPending = Math.max(0, ...samples.map((s) => s.pending));
  const lines: string[] = [];
  lines.push(sectionTitle(startedAt, `inbound webhooks${LABEL ? ` — ${LABEL}` : ''}`), '');
  lines.push(machineLine(info));
  lines.push(`- PostgreSQL settings: ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
  lines.push(`- Load average (1/5/15 min) at start: ${loadAtStart}; at end: ${loadAtEnd}`);
  lines.push(
    `- Config: ${MESSAGES.toLocaleString('en')} signed text-message bodies (mean ${fmt(meanBytes, 0)} bytes), one message each, POSTed by autocannon over ${CONNECTIONS} connections;` +
      ` ${generated.newContacts.toLocaleString('en')} from new numbers (${NEW_PERCENT} %), ${generated.knownMessages.toLocaleString('en')} from a pool of ${KNOWN.toLocaleString('en')} numbers that write repeatedly` +
      ` (${generated.distinctUsers.toLocaleString('en')} distinct users); queue polled every ${POLL_MS} ms; one Parley process (${process.env.PARLEY_INBOUND_LOOPS ?? '2'} inbound worker loop(s) sharing the queue by sender lanes, batches of 200; bodies stored several per INSERT; runs of plain-message bodies processed by one database call, parley_ingest_messages)`,
  );
  lines.push('');
  lines.push('| accepted/s | accept p50 ms | accept p99 ms | non-2xx | errors | posting s | pending at end of posting (max) | processed/s (first POST → queue empty) | processed/s while posting | drain/s after posting | total s |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  lines.push(
    `| ${fmt(accepted / postSeconds, 0)} | ${fmt(percentile(latencies, 50), 2)} | ${fmt(percentile(latencies, 99), 2)} | ${result.non2xx} | ${result.errors} | ${fmt(postSeconds, 2)} | ${pendingAtPostEnd} (${maxPending}) |` +
      ` **${fmt(processed, 0)}** | ${fmt(processedWhilePosting, 0)} | ${fmt(drainRate, 0)} | ${fmt(totalSeconds, 2)} |`,
  );
  lines.push('');
  lines.push('| CPU µs per message | server (kernel part) | PostgreSQL | load generator + poller |');
  lines.push('|---|---:|---:|---:|');
  lines.push(`| whole run (accept + process), per message | ${fmt(total.server, 0)} (${fmt(total.sys, 0)}) | ${fmt(total.pg, 0)} | ${fmt(total.client, 0)} |`);
  if (drain) lines.push(`| drain only (processing, no HTTP), per message drained | ${fmt(drain.server, 0)} (${fmt(drain.sys, 0)}) | ${fmt(drain.pg, 0)} | – |`);
  lines.push('');
  lines.push(`- Processed/s: **${fmt(processed, 0)}** (target ≥ ${TARGET_PROCESSED_PER_S.toLocaleString('en')}: ${processed >= TARGET_PROCESSED_PER_S ? 'meets target' : '**below target**'})`);
  lines.push(`- Correctness: ${correct ? 'all checks pass' : '**FAILED**'} — ${verdicts.map((v) => `${v.what} ${v.got.toLocaleString('en')}${v.got === v.want ? '' : ` (**expected ${v.want.toLocaleString('en')}**)`}`).join('; ')}`);
  lines.push(`- Parley memory after the run: ${fmt(mem.rss)} MiB (peak ${fmt(mem.hwm)} MiB)`, '');
  lines.push('### Where the processing time goes', '');
  lines.push(...batches.lines, ...activity, ...tableCounterLines(tablesBefore, tablesAfter), ...queries);
  lines.push('');
  publish(lines.join('\n'), APPEND);
  if (PROFILE) log(`CPU profile of Parley goes to ${profileDir} when it exits`);
  if (!correct) throw new Error('correctness checks failed (see the section)');
}

function tableCounterLines(before: Map<string, Record<string, number>>, after: Map<string, Record<string, number>>): string[] {
  const delta = (table: string, field: string) => ((after.get(table)?.[field] ?? 0) - (before.get(table)?.[field] ?? 0)) / MESSAGES;
  const lines = ['', '| table (per message) | index scans | seq scans | rows inserted | rows updated (HOT) | rows deleted |', '|---|---:|---:|---:|---:|---:|'];
  for (const table of [...after.keys()].filter((t) => t !== '(database)')) {
    const d = (field: string) => fmt(delta(table, field), 2);
    lines.push(`| ${table} | ${d('idx_scan')} | ${d('seq_scan')} | ${d('n_tup_ins')} | ${d('n_tup_upd')} (${d('n_tup_hot_upd')}) | ${d('n_tup_del')} |`);
  }
  lines.push('', `- Whole database per message: ${fmt(delta('(database)', 'xact_commit'), 2)} commits, ${fmt(delta('(database)', 'wal_bytes'), 0)} bytes of WAL`);
  return lines;
}

await runBenchmark(main, { timeoutMinutes: TIMEOUT_MINUTES, keepData: KEEP_DATA, logFiles: ['parley.log'] });
