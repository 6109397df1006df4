// The sending benchmark (`npm run bench:send`, see bench/README.md):
//   fresh data dir → `parley sandbox` (the stand-in Graph API, status webhooks off) → Parley on its
//   own embedded PostgreSQL with PARLEY_META_GRAPH_URL at the sandbox → an unlimited key and one
//   connected number (through the API) → bench/send-baseline.ts, a raw forwarder on the same
//   database → alternating rounds of 50 connections POSTing text messages to
//   /meta/whatsapp/v23.0/{pnid}/messages, to a rotating set of recipients → every 2xx checked
//   against the rows each server wrote → Markdown table appended to RESULTS.md.
import path from 'node:path';
import autocannon from 'autocannon';
import { type CpuUsed, cpuWindow, fmt, memory, percentile } from './lib/measure.ts';
import { connectEmbedded, createUnlimitedKey, freshDataDir } from './lib/parley.ts';
import { freePort, log, runBenchmark, setCurrentLoad, sleep, startChild, waitForHttp } from './lib/processes.ts';
import { knob, loadavg, machine, machineLine, publish, sectionTitle } from './lib/report.ts';
import { startParleyForStatements, statementProfile } from './lib/statements.ts';

const CONNECTIONS = knob('BENCH_CONNECTIONS', 50);
const DURATION = knob('BENCH_SEND_SECONDS', 10);
const WARMUP = knob('BENCH_WARMUP_SECONDS', 2);
const ROUNDS = knob('BENCH_ROUNDS', 3);
const RECIPIENTS = knob('BENCH_SEND_RECIPIENTS', 2_000);
const TIMEOUT_MINUTES = knob('BENCH_TIMEOUT_MINUTES', 20);
const LABEL = process.env.BENCH_LABEL ?? '';
const APPEND = process.env.BENCH_APPEND !== '0';
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const TARGET_RATIO = 0.75;
const TOKEN = 'EAAG-bench-token';
const PHONE_NUMBER_ID = '106540352242922';

interface Target {
  name: 'Parley' | 'raw forwarder';
  url: string;
  pid: number;
  /** Rows this server has recorded so far. */
  recorded: () => Promise<number>;
}

interface Run {
  target: string;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  recorded: number;
  cpu: CpuUsed;
  /** Transactions committed in the database during the run (each send's statements and background work). */
  commits: number;
}

const recipient = (n: number) => `1555${String(2_000_000 + (n % RECIPIENTS)).padStart(7, '0')}`;

function loadOptions(target: Target, key: string, seconds: number) {
  let counter = 0;
  return {
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 30,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: `/meta/whatsapp/v23.0/${PHONE_NUMBER_ID}/messages`,
        setupRequest: (req: { path?: string }) => {
          counter += 1;
          const body = { messaging_product: 'whatsapp', recipient_type: 'individual', to: recipient(counter), type: 'text', text: { body: `Order ${counter} has shipped` } };
          return { ...req, body: JSON.stringify(body) };
        },
      },
    ],
  };
}

/** Every statement outside a transaction block commits: per send, about the round trips to the database. */
type Commits = () => Promise<number>;

async function runLoad(target: Target, key: string, postmaster: number, round: number, commits: Commits): Promise<Run> {
  if (WARMUP > 0) {
    const warmup = autocannon(loadOptions(target, key, WARMUP));
    setCurrentLoad(warmup);
    await warmup;
    // Sends of the warm-up still in flight when it stopped are recorded a moment later.
    await sleep(1000);
  }
  const before = await target.recorded();
  const commitsBefore = await commits();
  const latencies: number[] = [];
  const cpu = cpuWindow(target.pid, postmaster);
  const load = autocannon(loadOptions(target, key, DURATION));
  setCurrentLoad(load);
  load.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  const result = await load;
  setCurrentLoad(null);
  const used = cpu.read();
  latencies.sort((a, b) => a - b);
  await sleep(1000);
  const committed = (await commits()) - commitsBefore;
  const recorded = (await target.recorded()) - before;
  const run: Run = {
    target: target.name,
    round,
    rps: result['2xx'] / DURATION,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    recorded,
    cpu: used,
    commits: committed,
  };
  const per = (n: number) => fmt(run.ok > 0 ? n / run.ok : NaN, 0);
  log(
    `round ${round} ${target.name}: ${fmt(run.rps, 0)} sends/s, p50 ${fmt(run.p50, 2)} ms, p99 ${fmt(run.p99, 2)} ms, 2xx ${run.ok}, recorded ${recorded}, non-2xx ${run.non2xx}, errors ${run.errors}, ` +
      `CPU µs/send server ${per(used.serverUs)} PostgreSQL ${per(used.pgUs)}, commits/send ${fmt(run.ok > 0 ? committed / run.ok : NaN, 2)}`,
  );
  return run;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const dataDir = freshDataDir(startedAt);

  const sandboxPort = await freePort();
  const sandbox = startChild('sandbox', ['--import', 'tsx', 'src/main.ts', 'sandbox', '--port', String(sandboxPort), '--no-webhooks', '--quiet'], { ...process.env, LOG_LEVEL: 'warn' }, path.join(dataDir, 'sandbox.log'));
  const graphUrl = `http://127.0.0.1:${sandboxPort}`;
  await waitForHttp(sandbox, `${graphUrl}/v23.0/`, 60_000);

  const parley = await startParleyForStatements(dataDir, { env: { PARLEY_META_GRAPH_URL: graphUrl }, nodeArgs: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dataDir, 'profiles')}`] : [] });
  const key = await createUnlimitedKey(parley, 'bench');
  const api = async (method: string, url: string, body: unknown) => {
    const response = await fetch(`${parley.url}${url}`, { method, headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await response.json()) as { data: { id: string } };
    if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const customer = await api('POST', '/platform/v1/customers', { customer: { name: 'Bench' } });
  await api('POST', `/platform/v1/customers/${customer.data.id}/whatsapp/phone_numbers`, {
    whatsapp_phone_number: { name: 'Bench line', phone_number_id: PHONE_NUMBER_ID, business_account_id: '102290129340398', access_token: TOKEN },
  });

  const db = connectEmbedded(dataDir);
  const basePort = await freePort();
  const baselineChild = startChild(
    'baseline',
    ['--import', 'tsx', 'bench/send-baseline.ts'],
    { ...process.env, DATABASE_URL: db.databaseUrl, PORT: String(basePort), GRAPH_URL: graphUrl, TOKEN },
    path.join(dataDir, 'baseline.log'),
  );
  const baselineUrl = `http://127.0.0.1:${basePort}`;
  await waitForHttp(baselineChild, `${baselineUrl}/`, 60_000);
  const count = async (query: string) => Number((await db.pool.query<{ n: string }>(query)).rows[0]!.n);
  // Backends flush their counts about once a second: read after the second of rest that follows a run.
  const commits = () => count(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`);
  const targets: Target[] = [
    { name: 'Parley', url: parley.url, pid: parley.pid, recorded: () => count(`SELECT count(*) AS n FROM messages WHERE direction = 'outbound'`) },
    { name: 'raw forwarder', url: baselineUrl, pid: baselineChild.proc.pid!, recorded: () => count('SELECT count(*) AS n FROM bench_raw_sends') },
  ];

  const info = await machine(db.pool);
  const loadAtStart = loadavg();
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) runs.push(await runLoad(target, key, db.postmaster, round, commits));
  }
  const rss = memory(parley.pid);
  const sends = runs.filter((r) => r.target === 'Parley').reduce((n, r) => n + r.ok, 0);
  const statements = await statementProfile(db.pool, sends, 'Parley send', 'the whole run with warm-ups and the forwarder\'s INSERT, divided by the measured Parley sends');

  const lines: string[] = [];
  lines.push(sectionTitle(startedAt, `sending through the proxy${LABEL ? ` (${LABEL})` : ''}`));
  lines.push('');
  lines.push(machineLine(info));
  lines.push(`- Load average (1/5/15 min) at start: ${loadAtStart}; at end: ${loadavg()}`);
  lines.push(`- Config: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per run, ${ROUNDS} alternating rounds, text messages to ${RECIPIENTS} rotating recipients, stand-in Graph API (\`parley sandbox\`, no status webhooks) as a separate process, pool 20 on both servers`);
  lines.push('');
  lines.push('| round | server | sends/s | p50 ms | p99 ms | 2xx | recorded | non-2xx | errors | server CPU µs/send | PostgreSQL CPU µs/send | commits/send |');
  lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const run of runs) {
    const per = (us: number) => fmt(run.ok > 0 ? us / run.ok : NaN, 0);
    lines.push(`| ${run.round} | ${run.target} | ${fmt(run.rps, 0)} | ${fmt(run.p50, 2)} | ${fmt(run.p99, 2)} | ${run.ok} | ${run.recorded} | ${run.non2xx} | ${run.errors} | ${per(run.cpu.serverUs)} | ${per(run.cpu.pgUs)} | ${fmt(run.ok > 0 ? run.commits / run.ok : NaN, 2)} |`);
  }
  lines.push('');
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const ours = runs.find((r) => r.round === round && r.target === 'Parley')!;
    const raw = runs.find((r) => r.round === round && r.target === 'raw forwarder')!;
    ratios.push(ours.rps / raw.rps);
  }
  // autocannon counts answers it received; a send it stopped waiting for at the end may still be recorded.
  const allRecorded = runs.every((r) => r.recorded >= r.ok && r.non2xx === 0 && r.errors === 0);
  const met = ratios.every((r) => r >= TARGET_RATIO);
  lines.push(`- Parley/raw forwarder sends/s by round: ${ratios.map((r) => `**${fmt(r, 2)}**`).join(', ')} (target ≥ ${TARGET_RATIO} in every round: ${met ? 'met' : '**below target**'})`);
  lines.push(`- Every 2xx recorded as a row, no errors: ${allRecorded ? 'yes' : '**no**'}`);
  lines.push(`- Parley RSS after the rounds: ${fmt(rss.rss, 0)} MiB (peak ${fmt(rss.hwm, 0)} MiB)`);
  lines.push(...statements);
  publish(lines.join('\n'), APPEND);
}

await runBenchmark(main, { timeoutMinutes: TIMEOUT_MINUTES, keepData: process.env.BENCH_KEEP_DATA === '1', logFiles: ['parley.log', 'sandbox.log', 'baseline.log'] });
