// What `parley failures` prints: per kind a line with its count, then its newest rows as cells.
import type { FailureGroup, FailureKind } from './repo.ts';

const TITLES: Record<FailureKind, string> = {
  outbox: 'Dead outbox events (webhook_events)',
  meta: 'Failed Meta bodies (meta_events)',
  jobs: 'Failed jobs (jobs)',
  deliveries: 'Failed webhook deliveries (webhook_deliveries)',
};

const WHAT: Record<FailureKind, string> = { outbox: 'EVENT', meta: 'META EVENT', jobs: 'JOB KIND', deliveries: 'WEBHOOK URL' };

export const ERROR_WIDTH = 160;

/** Errors can span lines (stack traces, response bodies): one line, cut, so the table stays a table. */
export function oneLine(text: string | null, max = ERROR_WIDTH): string {
  if (text === null || text.trim() === '') return '-';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export interface FailureSection {
  /** e.g. "Failed jobs (jobs): 3, newest 2 below" */
  heading: string;
  header: string[];
  rows: string[][];
}

export function failureSections(groups: FailureGroup[]): FailureSection[] {
  return groups.map((group) => ({
    heading: `${TITLES[group.kind]}: ${group.count}${group.count > group.rows.length ? `, newest ${group.rows.length} below` : ''}`,
    header: ['WHEN (UTC)', WHAT[group.kind], 'PROJECT', 'ATTEMPTS', 'ERROR'],
    rows: group.rows.map((row) => [row.at, oneLine(row.what, 80), row.project ?? '-', String(row.attempts), oneLine(row.error)]),
  }));
}

/** The one line printed when no kind has anything. */
export function nothingFailed(sinceLabel: string | null): string {
  return sinceLabel === null ? 'no failures: nothing has been set aside' : `no failures in the last ${sinceLabel}`;
}

/** `24h`, `7d`, `30d` … or `all` (null). */
export function parseSince(text: string): { seconds: number | null; label: string | null } | null {
  if (text === 'all') return { seconds: null, label: null };
  const match = /^(\d+)([hd])$/.exec(text);
  if (!match || Number(match[1]) === 0) return null;
  return { seconds: Number(match[1]) * (match[2] === 'h' ? 3600 : 86400), label: text };
}
