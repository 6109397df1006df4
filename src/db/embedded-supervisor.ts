// Keeps the embedded PostgreSQL of a running server alive: when its postmaster dies (killed,
// crashed, out of memory), it is started again on the same port, with backoff, until it is
// back or `giveUpMs` have passed; then the supervisor fails and the server exits.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

/** `up`: the postmaster runs; `down`: it died and is being restarted; `failed`: it could not come back; `stopped`: released. */
export type EmbeddedState = 'up' | 'down' | 'failed' | 'stopped';

export interface EmbeddedSupervisorEvents {
  state: [EmbeddedState];
  /** The postmaster could not be restarted: the process should stop with this error. */
  failed: [Error];
}

export interface Postmaster {
  /** Whether the postmaster this process runs on is alive. */
  alive(): boolean;
  /** Starts it again (same data dir and port); rejects with the reason when it cannot. */
  restart(): Promise<void>;
}

const CHECK_MS = 500;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export class EmbeddedSupervisor extends EventEmitter<EmbeddedSupervisorEvents> {
  private current: EmbeddedState = 'up';
  private readonly watch: NodeJS.Timeout;
  private restarting: Promise<void> | null = null;
  private stopping = false;
  private failedWith: Error | null = null;

  constructor(
    private readonly postmaster: Postmaster,
    private readonly logger: Logger,
    private readonly giveUpMs: number,
    private readonly logFile: string,
  ) {
    super();
    this.watch = setInterval(() => this.check(), CHECK_MS);
    this.watch.unref();
  }

  get state(): EmbeddedState {
    return this.current;
  }

  /** Why it gave up, once the state is `failed`. */
  get failure(): Error | null {
    return this.failedWith;
  }

  /** Checks now rather than at the next tick (e.g. after a lost connection). */
  check(): void {
    if (this.stopping || this.current !== 'up' || this.restarting || this.postmaster.alive()) return;
    this.restarting = this.restartLoop().finally(() => (this.restarting = null));
  }

  /** Stops supervising; waits for a restart attempt under way, so that the caller may then stop the postmaster. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watch);
    await this.restarting;
    if (this.current !== 'failed') this.set('stopped');
  }

  private async restartLoop(): Promise<void> {
    const since = Date.now();
    this.logger.warn({ logFile: this.logFile }, 'the embedded PostgreSQL stopped unexpectedly; restarting it (requests answer 503 until it is back)');
    this.set('down');
    let delay = FIRST_RETRY_MS;
    let attempts = 0;
    let lastError: unknown = null;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.stopping) return;
      attempts += 1;
      try {
        if (!this.postmaster.alive()) await this.postmaster.restart();
        if (this.stopping) return;
        this.logger.info({ attempts, downMs: Date.now() - since }, 'the embedded PostgreSQL is running again');
        this.set('up');
        return;
      } catch (error) {
        lastError = error;
        this.logger.debug({ err: error, attempts }, 'embedded PostgreSQL restart attempt failed');
      }
      if (Date.now() - since + delay > this.giveUpMs) break;
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
    clearInterval(this.watch);
    const reason = (lastError instanceof Error ? lastError.message : String(lastError)).replace(/\s*\n\s*/g, '; ');
    this.failedWith = new Error(`the embedded PostgreSQL stopped and could not be restarted in ${Math.round(this.giveUpMs / 1000)} s (${attempts} attempts; last: ${reason}); see ${this.logFile}`);
    this.set('failed');
    this.emit('failed', this.failedWith);
  }

  private set(state: EmbeddedState): void {
    if (this.current === state) return;
    this.current = state;
    this.emit('state', state);
  }
}
