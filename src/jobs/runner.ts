// The durable job runner: polls for due jobs (and wakes early on a NOTIFY), runs each with its
// registered handler, retries with backoff, and parks a job as failed after its last attempt.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from './polling-loop.ts';
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

export class JobRunner extends BatchWorker {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly registry: JobRegistry,
    private readonly logger: Logger,
    private readonly options: JobRunnerOptions,
  ) {
    super(logger, options.pollMs, 'job runner');
    for (const [kind, handler] of Object.entries(registry)) {
      if (typeof handler?.run !== 'function') throw new Error(`job kind ${kind} has no handler`);
    }
  }

  /** Claims and runs due jobs until none are left; returns how many ran. */
  async pass(): Promise<number> {
    return this.drain();
  }

  protected async batch(): Promise<number> {
    const jobs = await claimDueJobs(this.db, Object.keys(this.registry), this.options.batchSize ?? 10, this.options.leaseSeconds ?? 300);
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
    }
    return jobs.length;
  }
}
