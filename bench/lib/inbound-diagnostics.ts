// Evidence for what limits inbound processing: the worker's batches (read back from
// meta_events.processed_at, which is the batch transaction's now()), what Parley's database
// connections were doing (sampled from pg_stat_activity), table counters per message, and the
// statements one message costs (counted by running Parley's own processEvent in a rolled-back
// transaction, wrapped in the statements the worker adds per event).
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { createPool } from '../../src/db/connection.ts';
import type { Database } from '../../src/db/schema.ts';
import { finishEvent } from '../../src/meta-inbound/events-repo.ts';
import { processEvent } from '../../src/meta-inbound/processor.ts';
import { inboundTextBody } from '../../src/meta-inbound/simulate.ts';
import { fmt, percentile } from './measure.ts';
import { trackPool } from './processes.ts';

export interface ActivitySample {
  state: string | null;
  wait: string;
  query: string | null;
}

/** Counters of the inbound tables and of the whole database (commits, WAL bytes). */
export async function tableCounters(pool: pg.Pool): Promise<Map<string, Record<string, number>>> {
  const { rows } = await pool.query<Record<string, number> & { relname: string }>(
    `SELECT relname, idx_scan::float8 AS idx_scan, seq_scan::float8 AS seq_scan, n_tup_ins::float8 AS n_tup_ins, n_tup_upd::float8 AS n_tup_upd,
            n_tup_hot_upd::float8 AS n_tup_hot_upd, n_tup_del::float8 AS n_tup_del
       FROM pg_stat_user_tables WHERE relname IN ('meta_events', 'contacts', 'conversations', 'messages', 'pending_statuses', 'phone_numbers') ORDER BY relname`,
  );
  const result = new Map<string, Record<string, number>>(rows.map(({ relname, ...counters }) => [relname, counters]));
  const { rows: db } = await pool.query<{ xact_commit: number; wal_bytes: number }>(
    `SELECT xact_commit::float8 AS xact_commit, (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 AS wal_bytes FROM pg_stat_database WHERE datname = current_database()`,
  );
  result.set('(database)', db[0]!);
  return result;
}

export interface BatchStats {
  lines: string[];
}

/**
 * The worker's batches: events that share processed_at were finished in one transaction. With a
 * backlog, the gap between two batch starts is the time one full batch takes in the worker loop.
 */
export async function batchStats(pool: pg.Pool, drainStartMs: number): Promise<BatchStats> {
  const { rows } = await pool.query<{ ms: number; n: number }>(
    `SELECT extract(epoch FROM processed_at)::float8 * 1000 AS ms, count(*)::int AS n FROM meta_events WHERE processed_at IS NOT NULL GROUP BY processed_at ORDER BY processed_at`,
  );
  const size = Math.max(...rows.map((r) => r.n));
  const gaps = { posting: [] as number[], drain: [] as number[] };
  for (let i = 0; i + 1 < rows.length; i++) {
    if (rows[i]!.n !== size) continue;
    (rows[i]!.ms >= drainStartMs ? gaps.drain : gaps.posting).push(rows[i + 1]!.ms - rows[i]!.ms);
  }
  const lines = [
    `- Worker batches: ${rows.length} transactions, ${fmt(rows.reduce((s, r) => s + r.n, 0) / Math.max(1, rows.length), 1)} events each on average (largest ${size});` +
      ` ${rows.filter((r) => r.n === size).length} full. Time from one full batch's start to the next (with one loop, one batch's time; with several loops their batches interleave, so a gap is shorter than a batch):`,
  ];
  for (const [phase, list] of Object.entries(gaps)) {
    if (list.length === 0) continue;
    list.sort((a, b) => a - b);
    const p50 = percentile(list, 50);
    lines.push(`  - ${phase === 'posting' ? 'while posting (shares the CPUs with HTTP)' : 'drain after posting (worker alone)'}: ${list.length} batches, p50 ${fmt(p50, 1)} ms, p90 ${fmt(percentile(list, 90), 1)} ms → ${fmt(p50 / size, 2)} ms per event, at most ${fmt((size / p50) * 1000, 0)} events/s at that pace`);
  }
  return { lines };
}

/** What Parley's connections were doing, from the pg_stat_activity samples, split at the end of posting. */
export function activitySummary(samples: { t: number; activity: ActivitySample[] }[], postEnd: number): string[] {
  const lines = ['- Parley\'s database connections, sampled every 100 ms (mean per sample; "idle in transaction" = PostgreSQL waits for Node inside a transaction):'];
  for (const [phase, list] of [
    ['while posting', samples.filter((s) => s.t <= postEnd)],
    ['drain after posting', samples.filter((s) => s.t > postEnd)],
  ] as const) {
    if (list.length === 0) continue;
    const states = new Map<string, number>();
    const waits = new Map<string, number>();
    const queries = new Map<string, number>();
    for (const sample of list) {
      for (const a of sample.activity) {
        const state = a.state ?? 'unknown';
        states.set(state, (states.get(state) ?? 0) + 1);
        if (state === 'active') {
          waits.set(a.wait || 'CPU (no wait event)', (waits.get(a.wait || 'CPU (no wait event)') ?? 0) + 1);
          const q = (a.query ?? '').replace(/\s+/g, ' ').trim().slice(0, 40);
          queries.set(q, (queries.get(q) ?? 0) + 1);
        }
      }
    }
    const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, n]) => `${name} ${fmt(n / list.length, 2)}`).join(', ');
    lines.push(`  - ${phase} (${list.length} samples): ${top(states, 5)}; active ones waiting on: ${top(waits, 5) || '–'}; running: ${top(queries, 4) || '–'}`);
  }
  return lines;
}

interface Captured {
  sql: string;
  ms: number;
}

const shortSql = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 90);

/**
 * Runs Parley's processEvent for `count` messages from a known contact and `count` from new
 * numbers, each wrapped like the worker does it (SAVEPOINT, processEvent, finishEvent, RELEASE),
 * in one transaction that is rolled back; every statement is captured with its time.
 */
export async function queriesPerMessage(
  pool: pg.Pool,
  databaseUrl: string,
  phoneNumberId: string,
  people: { known: string; knownName: string; fresh: (i: number) => string },
  count = 20,
): Promise<string[]> {
  const { rows } = await pool.query<{ id: number }>(`SELECT min(id)::int AS id FROM meta_events`);
  const eventId = rows[0]!.id;
  const own = createPool(databaseUrl, { max: 1, applicationName: 'bench' });
  trackPool(own);
  let captured: Captured[] = [];
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: own }),
    log: (event) => {
      if (event.level === 'query' && !/^(begin|commit|rollback)$/i.test(event.query.sql.trim())) captured.push({ sql: shortSql(event.query.sql), ms: event.queryDurationMillis });
    },
  });
  const runs: Record<'known' | 'new', { statements: Captured[][]; wallMs: number[] }> = { known: { statements: [], wallMs: [] }, new: { statements: [], wallMs: [] } };
  try {
    await db
      .transaction()
      .execute(async (tx) => {
        for (let i = 0; i < count * 2; i++) {
          const kind = i % 2 === 0 ? 'known' : 'new';
          const from = kind === 'known' ? people.known : people.fresh(i);
          const body = inboundTextBody({ phoneNumberId, from, name: kind === 'known' ? people.knownName : `Diag ${i}`, text: `diagnostic ${i}`, wamid: `wamid.diag.${i}.${Date.now()}` });
          captured = [];
          const started = performance.now();
          await sql`SAVEPOINT event`.execute(tx);
          const result = await processEvent(tx, JSON.parse(JSON.stringify(body)) as never);
          await finishEvent(tx, eventId, result.state, result.note);
          await sql`RELEASE SAVEPOINT event`.execute(tx);
          runs[kind].wallMs.push(performance.now() - started);
          runs[kind].statements.push(captured);
        }
        throw new RollbackSignal();
      });
  } catch (error) {
    if (!(error instanceof RollbackSignal)) throw error;
  } finally {
    await db.destroy();
  }
  const mean = (list: number[]) => list.reduce((s, v) => s + v, 0) / Math.max(1, list.length);
  const lines = [
    '',
    `- Statements per message, counted by running Parley's processEvent (src/meta-inbound/processor.ts) with the worker's per-event statements around it,` +
      ` ${count} messages of each kind, one at a time in a rolled-back transaction after the run (no other Parley load; the machine may still be busy) (each batch adds BEGIN, SELECT … FOR UPDATE SKIP LOCKED and COMMIT per 50 events):`,
  ];
  for (const kind of ['known', 'new'] as const) {
    const r = runs[kind];
    const statements = mean(r.statements.map((s) => s.length));
    const inStatements = mean(r.statements.map((s) => s.reduce((sum, q) => sum + q.ms, 0)));
    lines.push(`  - ${kind === 'known' ? 'known contact (active conversation)' : 'new contact'}: ${fmt(statements, 1)} statements, ${fmt(mean(r.wallMs), 2)} ms per message, of which ${fmt(inStatements, 2)} ms waiting for statements (${fmt(inStatements / statements, 3)} ms each)`);
  }
  const byStatement = new Map<string, { known: number; fresh: number; ms: number[] }>();
  for (const kind of ['known', 'new'] as const) {
    for (const list of runs[kind].statements) {
      for (const q of list) {
        const entry = byStatement.get(q.sql) ?? { known: 0, fresh: 0, ms: [] };
        if (kind === 'known') entry.known += 1;
        else entry.fresh += 1;
        entry.ms.push(q.ms);
        byStatement.set(q.sql, entry);
      }
    }
  }
  lines.push('', '| statement (start) | per known-contact message | per new-contact message | mean ms |', '|---|---:|---:|---:|');
  for (const [text, e] of byStatement) lines.push(`| \`${text.replace(/\|/g, '\\|')}\` | ${fmt(e.known / count, 1)} | ${fmt(e.fresh / count, 1)} | ${fmt(mean(e.ms), 3)} |`);
  return lines;
}

class RollbackSignal extends Error {}
