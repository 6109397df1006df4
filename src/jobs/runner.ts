// The durable job runner: polls for due jobs (and wakes early on a NOTIFY), runs each with its
// registered handler, retries with backoff, and parks a job as failed after its last attempt.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { claimDueJobs, completeJob, failJob } from './repo.ts';

export interface JobHandler {
  run(payload: unknown): Promise<void>;
  maxAttempts: number;
}

export type JobRegistry = Record<string, JobHandler>;

export interface JobRunnerOptions {
  pollMs: number;
  /** How long a claimed job stays invisible to other workers before it counts as abandoned. */
  leaseSeconds?: number;
  batchSize?: number;
}

export class JobRunner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly registry: JobRegistry,
    private readonly logger: Logger,
    private readonly options: JobRunnerOptions,
  ) {
    for (const [kind, handler] of Object.entries(registry)) {
      if (typeof handler?.run !== 'function') throw new Error(`job kind ${kind} has no handler`);
    }
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Runs a pass now (or right after the current one). */
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
      .catch((error: unknown) => this.logger.error({ err: error }, 'job runner pass failed'))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.wakeRequested) {
          this.wakeRequested = false;
          this.wake();
        } else {
          this.timer = setTimeout(() => this.wake(), this.options.pollMs);
          this.timer.unref();
        }
      });
  }

  /** Stops claiming; waits for the jobs in hand to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Claims and runs due jobs until none are left; returns how many ran. */
  async pass(): Promise<number> {
    let total = 0;
    const kinds = Object.keys(this.registry);
    for (;;) {
      const jobs = await claimDueJobs(this.db, kinds, this.options.batchSize ?? 10, this.options.leaseSeconds ?? 300);
      if (jobs.length === 0) return total;
      for (const job of jobs) {
        const handler = this.registry[job.kind]!;
        try {
          await handler.run(job.payload);
          await completeJob(this.db, job.id);
          this.logger.info({ job: job.id, kind: job.kind }, 'job done');
        } catch (error) {
          const final = job.attempts >= handler.maxAttempts;
          const delay = Math.min(2 ** job.attempts * 5, 3600);
          await failJob(this.db, job.id, error instanceof Error ? error.message : String(error), delay, final);
          this.logger.error({ job: job.id, kind: job.kind, attempt: job.attempts, final, err: error }, 'job failed');
        }
        total += 1;
      }
      if (this.stopped) return total;
    }
  }
}
