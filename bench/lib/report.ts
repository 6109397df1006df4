// Knobs from the environment, the machine description every section starts with, and appending a
// dated section to bench/RESULTS.md.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { BENCH_DIR, log, ROOT } from './processes.ts';

const execFileAsync = promisify(execFile);
export const RESULTS = path.join(BENCH_DIR, 'RESULTS.md');

/** A whole-number knob from the environment. */
export function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return Number(raw);
}

export interface Machine {
  nproc: string;
  memory: string;
  cpu: string;
  node: string;
  postgres: string;
}

export async function machine(pool: pg.Pool): Promise<Machine> {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = fs.readFileSync('/proc/meminfo', 'utf8');
  const memKib = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const { rows } = await pool.query<{ version: string; shared_buffers: string }>(`SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS shared_buffers`);
  return {
    nproc: (await execFileAsync('nproc')).stdout.trim(),
    memory: `${(memKib / 1024 / 1024).toFixed(1)} GiB`,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    postgres: `${rows[0]!.version} (embedded, shared_buffers ${rows[0]!.shared_buffers})`,
  };
}

/** "- Machine: …" line of a section. */
export const machineLine = (info: Machine) => `- Machine: ${info.nproc} CPUs (${info.cpu}), ${info.memory} RAM; Node ${info.node}; PostgreSQL ${info.postgres}`;

export const loadavg = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');

/** "## 2026-11-26 15:41 UTC — label" */
export const sectionTitle = (startedAt: Date, label: string) =>
  `## ${startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC${label ? ` — ${label}` : ''}`;

/** Prints the section, and appends it to RESULTS.md unless `append` is false. */
export function publish(report: string, append: boolean): void {
  process.stdout.write(`\n${report}\n`);
  if (!append) return;
  const header = fs.existsSync(RESULTS) ? '' : '# Benchmark results\n\nAppended by `npm run bench` (bench/run.ts); see bench/README.md for what is measured.\n\n';
  fs.appendFileSync(RESULTS, `${header}${report}\n`);
  log(`appended to ${path.relative(ROOT, RESULTS)}`);
}
