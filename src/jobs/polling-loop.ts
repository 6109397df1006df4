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
