// BENCH_PG_STATEMENTS=1: where PostgreSQL's time goes, statement by statement. The embedded server
// loads pg_stat_statements (nested statements counted too: a function's and a trigger's), which
// needs a restart, so Parley is started, stopped and started again on the same data dir.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { fmt } from './measure.ts';
import { type RunningParley, startParley } from './parley.ts';
import { stopChild } from './processes.ts';

export const STATEMENTS = process.env.BENCH_PG_STATEMENTS === '1';

/** Starts Parley; with BENCH_PG_STATEMENTS=1, restarts it once with pg_stat_statements loaded. */
export async function startParleyForStatements(dataDir: string, options: Parameters<typeof startParley>[1]): Promise<RunningParley> {
  const parley = await startParley(dataDir, options);
  if (!STATEMENTS) return parley;
  await stopChild(parley.child, 30_000);
  fs.appendFileSync(path.join(dataDir, 'pg', 'postgresql.auto.conf'), "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = 'all'\n");
  return startParley(dataDir, options);
}

/** Forgets what was counted so far (seeding, warm-ups): the profile covers what follows. */
export async function resetStatements(pool: pg.Pool): Promise<void> {
  if (!STATEMENTS) return;
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
}

/** The 25 statements PostgreSQL spent most time on, per `unit` (e.g. per Parley request), as a Markdown block. */
export async function statementProfile(pool: pg.Pool, units: number, unit: string, what: string): Promise<string[]> {
  if (!STATEMENTS) return [];
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const { rows } = await pool.query<{ query: string; calls: string; total: number; top: boolean }>(
    `SELECT s.query, s.calls, s.total_exec_time AS total, s.toplevel AS top FROM pg_stat_statements s
     JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database()
     ORDER BY s.total_exec_time DESC LIMIT 25`,
  );
  const lines = ['', `<details><summary>pg_stat_statements (track = all), ${what}, per ${unit} (${units})</summary>`, ''];
  lines.push(`| µs per ${unit} | calls per ${unit} | top level | statement |`, '|---:|---:|---|---|');
  for (const row of rows) {
    const text = row.query.replace(/\s+/g, ' ').slice(0, 160).replace(/\|/g, '\\|');
    lines.push(`| ${fmt((row.total * 1000) / units, 0)} | ${fmt(Number(row.calls) / units, 2)} | ${row.top ? 'yes' : 'no'} | \`${text}\` |`);
  }
  lines.push('', '</details>');
  return lines;
}
