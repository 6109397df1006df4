// The durable job runner: polls for due jobs (and wakes early on a NOTIFY), runs each with its
// registered handler, retries with backoff, and parks a job as failed after its last attempt.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { PollingLoop } from './polling-loop.ts';
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
  private readonly loop: PollingLoop;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly registry: JobRegistry,
    private readonly logger: Logger,
    private readonly options: JobRunnerOptions,
  ) {
    for (const [kind, handler] of Object.entries(registry)) {
      if (typeof handler?.run !== 'function') throw new Error(`job kind ${kind} has no handler`);
    }
    this.loop = new PollingLoop(() => this.pass(), options.pollMs, logger, 'job runner');
  }

  start(): void {
    this.loop.start();
  }

  /** Runs a pass now (or right after the current one). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops claiming; waits for the jobs in hand to finish. */
  async stop(): Promise<void> {
    await this.loop.stop();
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
      if (this.loop.stopRequested) return total;
    }
  }
}
