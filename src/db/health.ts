// Whether the database answers, as this process sees it. A lost connection or a failed connect
// makes it probe at once; while the probe fails the database is `down`: the outage is logged
// once, probed with backoff, and its end logged once. Requests need no gate: while the
// database is down they fail on their own and answer 503 (src/http/errors.ts).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { describeError, isDatabaseUnavailable } from './errors.ts';

export type DatabaseState = 'up' | 'down';

export interface DatabaseHealthEvents {
  state: [DatabaseState];
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export class DatabaseHealth extends EventEmitter<DatabaseHealthEvents> {
  private current: DatabaseState = 'up';
  private probing = false;
  private timer: NodeJS.Timeout | null = null;
  private downSince = 0;
  private closed = false;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly what: string,
    /** Where another part already logs the outage (the embedded supervisor), say it at debug only. */
    private readonly level: 'info' | 'debug' = 'info',
  ) {
    super();
  }

  /** `up` or `down`; a 'state' event follows every change. */
  get state(): DatabaseState {
    return this.current;
  }

  /** Something failed: when it looks like the database, check whether it still answers. */
  report(error: unknown): void {
    if (this.closed || !isDatabaseUnavailable(error)) return;
    if (this.current === 'down') return; // already probing with backoff
    this.check(FIRST_RETRY_MS, error);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private check(nextDelay: number, cause?: unknown): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    this.probe().then(
      () => {
        this.probing = false;
        if (this.current === 'down') {
          this.logger[this.level]({ downMs: Date.now() - this.downSince }, `${this.what} is available again`);
          this.set('up');
        }
      },
      (error: unknown) => {
        this.probing = false;
        if (this.closed) return;
        if (this.current === 'up') {
          this.downSince = Date.now();
          // One line, no stack: the cause is in the message, and a stack says nothing more here.
          this.logger[this.level === 'info' ? 'warn' : 'debug']({ reason: describeError(cause ?? error) }, `${this.what} is unavailable; requests answer 503 until it is back`);
          this.set('down');
        }
        this.timer = setTimeout(() => {
          this.timer = null;
          this.check(Math.min(nextDelay * 2, MAX_RETRY_MS));
        }, nextDelay);
        this.timer.unref();
      },
    );
  }

  private set(state: DatabaseState): void {
    this.current = state;
    this.emit('state', state);
  }
}
