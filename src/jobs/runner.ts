// The durable job runner: polls for due jobs (and wakes early on a NOTIFY), runs each with its
// registered handler, retries with backoff, and parks a job as failed after its last attempt.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from './polling-loop.ts';
import { type ClaimedJob, claimDueJobs, completeJob, failJob } from './repo.ts';

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
  /** Called after each job that completed (the server wakes the webhook dispatchers: jobs write). */
  onJobDone?: () => void;
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
    const leaseSeconds = this.options.leaseSeconds ?? 300;
    const jobs = await claimDueJobs(this.db, Object.keys(this.registry), this.options.batchSize ?? 10, leaseSeconds);
    for (const job of jobs) {
      const handler = this.registry[job.kind]!;
      // Claims count attempts: past the last one, the job's earlier runs ended with no result
      // (the process died, or the lease ran out). Running it again would only repeat that.
      if (job.attempts > handler.maxAttempts) {
        await this.recordFailure(job, new Error(`its last attempts ended without a result (worker stopped or lease of the job ran out); last error: ${job.last_error ?? 'none'}`), true);
        continue;
      }
      try {
        await withinLease(handler.run(job.payload), leaseSeconds);
        await completeJob(this.db, job.id);
        this.options.onJobDone?.();
        this.logger.info({ job: job.id, kind: job.kind }, 'job done');
      } catch (error) {
        await this.recordFailure(job, error, job.attempts >= handler.maxAttempts);
      }
    }
    return jobs.length;
  }

  /** Records a failed attempt; a failure to record it must not stop the other jobs of the batch. */
  private async recordFailure(job: ClaimedJob, error: unknown, final: boolean): Promise<void> {
    const delay = Math.min(2 ** job.attempts * 5, 3600);
    const message = error instanceof Error ? error.message : String(error);
    try {
      await failJob(this.db, job.id, message, delay, final);
    } catch (recordError) {
      // The lease brings the job back, and its attempts still count, so it cannot loop forever.
      this.logger.error({ job: job.id, kind: job.kind, err: recordError, error: message }, 'job failure could not be recorded');
      return;
    }
    this.logger.error({ job: job.id, kind: job.kind, attempt: job.attempts, final, err: error }, final ? 'job failed for good' : 'job failed; it will be retried');
  }
}

/**
 * A run that outlives its lease counts as a failed attempt, so one job that never ends cannot
 * hold up the jobs behind it. The run itself cannot be cancelled and may still finish; every job
 * kind is written to be safe to run again (erasure deletes what is left).
 */
async function withinLease(run: Promise<void>, leaseSeconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the run took longer than the job's lease of ${leaseSeconds} s`)), leaseSeconds * 1000);
  });
  run.catch(() => undefined); // a late failure after the lease must not become an unhandled rejection
  try {
    await Promise.race([run, expired]);
  } finally {
    clearTimeout(timer);
  }
}
