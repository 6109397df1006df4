// Measurement helpers: CPU time of a process and of the embedded PostgreSQL (from /proc), resident
// memory, percentiles and number formatting.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Microseconds per clock tick of /proc/<pid>/stat. */
export const TICK_US = 1e6 / Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim() || 100);

export function cpuTicks(pid: number): { user: number; sys: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), sys: Number(fields[12]) }; // utime, stime
}

/** CPU ticks of the postmaster and every process it forked (backends, walwriter, …). */
export function postgresTicks(postmaster: number): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid === postmaster || Number(fields[1]) === postmaster) ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

export interface CpuUsed {
  /** Server process, user + kernel, µs. */
  serverUs: number;
  /** Kernel part of serverUs. */
  serverSysUs: number;
  /** Postmaster and all its children, µs (backends that exited meanwhile are not counted). */
  pgUs: number;
  /** This (orchestrating, load generating) process, µs. */
  clientUs: number;
}

/** Starts counting CPU time of the server, PostgreSQL and this process; read() gives the time used since. */
export function cpuWindow(serverPid: number, postmaster: number): { read(): CpuUsed } {
  const pgBefore = postgresTicks(postmaster);
  const serverBefore = cpuTicks(serverPid);
  const clientBefore = process.cpuUsage();
  return {
    read() {
      const client = process.cpuUsage(clientBefore);
      const serverAfter = cpuTicks(serverPid);
      let pgTicks = 0;
      for (const [pid, ticks] of postgresTicks(postmaster)) pgTicks += ticks - (pgBefore.get(pid) ?? 0);
      return {
        serverUs: (serverAfter.user + serverAfter.sys - serverBefore.user - serverBefore.sys) * TICK_US,
        serverSysUs: (serverAfter.sys - serverBefore.sys) * TICK_US,
        pgUs: pgTicks * TICK_US,
        clientUs: client.user + client.system,
      };
    },
  };
}

export function memory(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

/** The p-th percentile of an ascending array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
