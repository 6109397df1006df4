// A background loop that runs `pass` now and then: after `pollMs` of quiet, or at once when
// woken (a NOTIFY arrived). Never two passes at a time; stop() waits for the running pass.
//
// A pass that fails is not run again at once: the loop waits longer after each failure in a row
// (doubling, up to maxBackoffMs), and wakes do not cut the wait short. The log says a failure
// once: its first occurrence at error level, then the same error again only as a count, in one
// line when the error changes, when the loop recovers, when it stops, or every summaryEveryMs.
import type { Logger } from 'pino';

export interface PollingLoopOptions {
  /** The longest wait after failed passes; 30 s unless given. */
  maxBackoffMs?: number;
  /** While the same error goes on, how often a line counts its repeats; 10 min unless given. */
  summaryEveryMs?: number;
}

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

export class PollingLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;
  private stopCalled = false;
  /** Failed passes in a row. */
  private failures = 0;
  /** The error being repeated, how often since it was last logged, and when that was. */
  private repeating: string | null = null;
  private repeats = 0;
  private loggedAt = 0;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly pollMs: number,
    private readonly logger: Logger,
    private readonly name: string,
    private readonly options: PollingLoopOptions = {},
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** True once stop() was called: a long pass should finish its current batch and return. */
  get stopRequested(): boolean {
    return this.stopCalled;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeRequested = true;
      return;
    }
    // Backing off after a failure: new work must not undo the wait.
    if (this.failures > 0 && this.timer) return;
    this.run();
  }

  private run(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass()
      .then(
        () => this.succeeded(),
        (error: unknown) => this.failed(error),
      )
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        const again = this.wakeRequested && this.failures === 0;
        this.wakeRequested = false;
        if (again) return this.run();
        this.timer = setTimeout(() => {
          this.timer = null;
          if (!this.stopped) this.run();
        }, this.failures > 0 ? this.backoffMs() : this.pollMs);
        this.timer.unref();
      });
  }

  /** The wait after the latest failure: twice the last, from 2 × pollMs up to maxBackoffMs. */
  private backoffMs(): number {
    return Math.min(this.pollMs * 2 ** Math.min(this.failures, 30), this.options.maxBackoffMs ?? 30_000);
  }

  private failed(error: unknown): void {
    this.failures += 1;
    const what = describe(error);
    if (what === this.repeating) {
      this.repeats += 1;
      if (Date.now() - this.loggedAt >= (this.options.summaryEveryMs ?? 600_000)) this.countRepeats();
      return;
    }
    this.countRepeats();
    this.repeating = what;
    this.loggedAt = Date.now();
    this.logger.error({ err: error, retryInMs: this.backoffMs() }, `${this.name} pass failed`);
  }

  private succeeded(): void {
    if (this.failures === 0) return;
    this.countRepeats();
    this.logger.info({ failedPasses: this.failures }, `${this.name} recovered after ${this.failures} failed ${this.failures === 1 ? 'pass' : 'passes'}`);
    this.failures = 0;
    this.repeating = null;
  }

  /** One line for the repeats of the current error not yet logged. */
  private countRepeats(): void {
    if (this.repeats > 0) {
      this.logger.warn({ error: this.repeating, count: this.repeats }, `${this.name} pass failed ${this.repeats} more ${this.repeats === 1 ? 'time' : 'times'} with the same error`);
    }
    this.repeats = 0;
    this.loggedAt = Date.now();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCalled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.countRepeats();
  }
}

/**
 * A background worker that handles its queue in batches: `drain()` runs `batch()` until it
 * handles nothing (or stop was asked); the loop drains on every wake and every `pollMs`.
 */
export abstract class BatchWorker {
  private readonly loop: PollingLoop;

  constructor(logger: Logger, pollMs: number, name: string) {
    this.loop = new PollingLoop(() => this.loopPass(), pollMs, logger, name);
  }

  /** What the background loop runs on each wake; drain() unless a worker needs otherwise. */
  protected loopPass(): Promise<number> {
    return this.drain();
  }

  /** Handles one batch; returns how many items it handled (0: the queue is empty). */
  protected abstract batch(): Promise<number>;

  start(): void {
    this.loop.start();
  }

  /** Drains now (or right after the current pass). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops taking work; waits for the batch in hand. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.batch();
      total += count;
      if (count === 0 || this.loop.stopRequested) return total;
    }
  }
}
