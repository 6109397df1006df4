// The pino logger of the server and of the CLI, from LOG_LEVEL and LOG_FORMAT: JSON lines for
// machines (the default when the stream is not a terminal), or one readable line per entry for a
// person at a terminal (the default there). The readable form is written here rather than by a
// transport package: it re-reads pino's own JSON line, so both forms carry exactly the same fields.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config, LogFormat } from './config.ts';

/** Keys every pino line has; the readable form shows them as time and level, not as fields. */
const CORE_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOURS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };

export type LogStream = 'stdout' | 'stderr';

/** The format to use: LOG_FORMAT when set, else pretty on a terminal and JSON anywhere else. */
export function chooseFormat(configured: LogFormat | null, isTerminal: boolean): LogFormat {
  return configured ?? (isTerminal ? 'pretty' : 'json');
}

/** Every destination made here: their buffered lines must be out before a final error line. */
const destinations = new Set<{ flushSync(): void }>();

/**
 * Writes out what the loggers still buffer (pino writes asynchronously). Called before the
 * process prints its last line, so that the line naming the cause really is the last one.
 */
export function flushLogs(): void {
  for (const destination of destinations) {
    try {
      destination.flushSync();
    } catch {
      // Nothing written yet, or the stream is gone: nothing to keep the error line from.
    }
  }
}

/** A logger writing to stdout (the server) or stderr (CLI commands, whose stdout is their result). */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, stream: LogStream): Logger {
  const isTerminal = (stream === 'stdout' ? process.stdout : process.stderr).isTTY === true;
  const destination = pino.destination(stream === 'stdout' ? 1 : 2);
  destinations.add(destination);
  const format = chooseFormat(config.logFormat, isTerminal);
  return pino({ level: config.logLevel }, format === 'json' ? destination : readable(destination, isTerminal));
}

/** pino's JSON lines turned into readable ones before they reach `out`. */
export function readable(out: { write(text: string): unknown }, colour: boolean): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      out.write(formatEntry(entry, colour));
    },
  };
}

const paint = (colour: boolean, code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);

/** `HH:MM:SS.mmm LEVEL message key=value …`, an error's stack indented on the lines below. */
export function formatEntry(entry: Record<string, unknown>, colour: boolean): string {
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const fields: string[] = [];
  let stack = '';
  for (const [key, value] of Object.entries(entry)) {
    if (CORE_KEYS.has(key)) continue;
    if (isSerializedError(value)) {
      fields.push(`${paint(colour, '2', `${key}=`)}${quote(`${value.type ?? 'Error'}: ${value.message}`)}`);
      const detail = Object.entries(value).filter(([k]) => k !== 'type' && k !== 'message' && k !== 'stack');
      for (const [k, v] of detail) fields.push(`${paint(colour, '2', `${key}.${k}=`)}${quote(v)}`);
      if (typeof value.stack === 'string') stack += `\n${indent(value.stack.split('\n').slice(1).join('\n'))}`;
      continue;
    }
    fields.push(`${paint(colour, '2', `${key}=`)}${quote(value)}`);
  }
  const message = typeof entry.msg === 'string' ? entry.msg : '';
  const head = [paint(colour, '2', time), paint(colour, LEVEL_COLOURS[level] ?? '0', name), message, ...fields].filter((part) => part !== '').join(' ');
  return `${head}${stack}\n`;
}

function isSerializedError(value: unknown): value is { type?: string; message: string; stack?: string } {
  return value !== null && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string' && ('stack' in value || 'type' in value);
}

/** Bare when it reads unambiguously, else as JSON (quotes, spaces, objects). */
function quote(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\u0000-\u001f\u007f]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value) ?? String(value);
}

const indent = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => `    ${line.trim()}`)
    .join('\n');
