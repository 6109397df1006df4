// A background loop that runs `pass` now and then: after `pollMs` of quiet, or at once when
// woken (a NOTIFY arrived). Never two passes at a time; stop() waits for the running pass.
import type { Logger } from 'pino';

export class PollingLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;
  private stopCalled = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly pollMs: number,
    private readonly logger: Logger,
    private readonly name: string,
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error({ err: error }, `${this.name} pass failed`))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.wakeRequested) {
          this.wakeRequested = false;
          this.wake();
        } else {
          this.timer = setTimeout(() => this.wake(), this.pollMs);
          this.timer.unref();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCalled = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
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
