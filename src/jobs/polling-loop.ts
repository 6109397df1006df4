// A background loop that runs `pass` now and then: after `pollMs` of quiet, or at once when
// woken (a NOTIFY arrived). Never two passes at a time; stop() waits for the running pass.
//
// A pass that fails is not run again at once: the loop waits longer after each failure in a row
// (doubling, up to maxBackoffMs), and wakes do not cut the wait short. The log says a failure
// once: its first occurrence at error level, then the same error again only as a count, in one
// line when the error changes, when the loop recovers, when it stops, or every summaryEveryMs.
import type { Logger } from 'pino';
import { RepeatedErrors } from './repeated-errors.ts';

export interface PollingLoopOptions {
  /** The longest wait after failed passes; 30 s unless given. */
  maxBackoffMs?: number;
  /** While the same error goes on, how often a line counts its repeats; 10 min unless given. */
  summaryEveryMs?: number;
}

export class PollingLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;
  private stopCalled = false;
  private readonly errors: RepeatedErrors;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly pollMs: number,
    logger: Logger,
    private readonly name: string,
    private readonly options: PollingLoopOptions = {},
  ) {
    this.errors = new RepeatedErrors(logger, `${name} pass`, options.summaryEveryMs);
  }

  /** Failed passes in a row. */
  private get failures(): number {
    return this.errors.failures;
  }

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
        () => this.errors.succeeded(),
        (error: unknown) => this.errors.failed(error),
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCalled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.errors.flush();
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
