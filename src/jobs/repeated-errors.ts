// Logs a background error that keeps coming back once, then only as a count: the first
// occurrence at error level (with its stack), the repeats in one line when the error changes,
// when the work recovers, when it stops (flush), or every `summaryEveryMs` while it goes on.
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/errors.ts';

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

export class RepeatedErrors {
  /** Failures in a row (any error). */
  failures = 0;
  private repeating: string | null = null;
  private repeats = 0;
  private loggedAt = 0;
  /** Whether the current run of failures is a database outage (logged elsewhere). */
  private outage = false;

  constructor(
    private readonly logger: Logger,
    /** What failed, as the log lines say it: "webhook dispatcher pass". */
    private readonly what: string,
    private readonly summaryEveryMs = 600_000,
  ) {}

  failed(error: unknown, fields: Record<string, unknown> = {}): void {
    this.failures += 1;
    const text = describe(error);
    if (text === this.repeating) {
      this.repeats += 1;
      if (Date.now() - this.loggedAt >= this.summaryEveryMs) this.flush();
      return;
    }
    this.flush();
    this.repeating = text;
    // An outage is logged once, with its end, by the database health check or the embedded
    // supervisor: every worker saying it again would bury those two lines, so it says it at debug.
    this.outage = isDatabaseUnavailable(error);
    if (this.outage) this.logger.debug({ reason: text, ...fields }, `${this.what} failed: database unavailable`);
    else this.logger.error({ err: error, ...fields }, `${this.what} failed`);
  }

  succeeded(): void {
    if (this.failures === 0) return;
    this.flush();
    this.logger[this.outage ? 'debug' : 'info']({ failures: this.failures }, `${this.what} recovered after ${this.failures} ${this.failures === 1 ? 'failure' : 'failures'}`);
    this.failures = 0;
    this.outage = false;
    this.repeating = null;
  }

  /** One line for the repeats of the current error not yet logged. */
  flush(): void {
    if (this.repeats > 0) {
      this.logger[this.outage ? 'debug' : 'warn']({ error: this.repeating, count: this.repeats }, `${this.what} failed ${this.repeats} more ${this.repeats === 1 ? 'time' : 'times'} with the same error`);
    }
    this.repeats = 0;
    this.loggedAt = Date.now();
  }
}
