// Reading PostgreSQL error details without depending on pg's error class.
export function pgErrorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

export function pgErrorConstraint(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'constraint' in error ? String((error as { constraint: unknown }).constraint) : undefined;
}

/** deadlock_detected, serialization_failure: a clash between two transactions, not a fault of the row. */
const TRANSIENT_STATES = new Set(['40P01', '40001']);

/** Whether `error` is a passing conflict with another transaction: the work is retried as it is. */
export function isTransientConflict(error: unknown): boolean {
  return TRANSIENT_STATES.has(pgErrorCode(error) ?? '');
}

/** Socket errors that mean the database server cannot be reached (or just went away). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATEs of a server that is going away or not there yet: 57P01 admin shutdown (what
 * pg_terminate_backend and a fast shutdown send), 57P02 crash shutdown, 57P03 cannot connect
 * now (starting up or in recovery), 53300 too many connections.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Messages pg writes for a lost connection or a pool that could not get one in time. */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^Connection ended unexpectedly/,
];

/**
 * Whether `error` says the database is unavailable (down, restarting, unreachable, or every
 * connection lost), rather than that one statement failed. Such a request answers 503, and
 * a background worker can wait for the database instead of reporting the item as broken.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (error instanceof AggregateError && error.errors.some(isDatabaseUnavailable)) return true;
  const code = pgErrorCode(error);
  if (code !== undefined) {
    if (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || NETWORK_CODES.has(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isDatabaseUnavailable(cause);
}

/**
 * An error in one line, never empty: a failed connect is an AggregateError (one per address
 * tried) with no message of its own, and some errors carry only a code.
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && !error.message && error.errors.length > 0) return describeError(error.errors[0]);
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error) || 'unknown error';
}
