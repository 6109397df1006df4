// Sends due deliveries: signed POSTs with the event headers and the webhook's own headers,
// retried on the configured schedule (10 s, 40 s, 90 s by default) and then marked failed.
// Every attempt is recorded. Attempts run concurrently, up to `concurrency` per node.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from '../jobs/polling-loop.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { GroupedWriter } from '../db/grouped-writes.ts';
import { type AttemptOutcome, type ClaimedDelivery, claimDueDeliveries, giveUpDelivery, recordAttempt, recordAttempts, setBody } from './outbox-repo.ts';
import { send, signature } from './sender.ts';

export interface DeliveryWorkerOptions {
  pollMs: number;
  retrySeconds: readonly number[];
  allowPrivate: boolean;
  timeoutMs?: number;
  concurrency?: number;
}

const TIMEOUT_MS = 10_000;

/** The headers of one attempt; the webhook's own headers cannot override Parley's. */
export function deliveryHeaders(d: ClaimedDelivery, body: string): Record<string, string> {
  const headers: Record<string, string> = { ...(d.headers ?? {}) };
  headers['x-webhook-event'] = d.event;
  headers['x-idempotency-key'] = d.idempotency_key;
  headers['x-webhook-payload-version'] = 'v2';
  if (d.secret_key) headers['x-webhook-signature'] = signature(body, d.secret_key);
  if (d.batch_items) {
    headers['x-webhook-batch'] = 'true';
    headers['x-batch-size'] = String(d.batch_items.length);
  }
  return headers;
}

export class DeliveryWorker extends BatchWorker {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: DeliveryWorkerOptions,
  ) {
    super(logger, options.pollMs, 'webhook delivery worker');
    // Outcomes that arrive while one statement is written share the next one (and its commit).
    this.outcomes = new GroupedWriter<AttemptOutcome, void>({
      maxBatch: 100,
      maxInFlight: 2,
      many: (items) => recordAttempts(this.db, items),
      one: (item) => recordAttempt(this.db, item),
      failsAll: isDatabaseUnavailable,
      onBatchFailed: (error, size) => this.logger.warn({ outcomes: size, err: error }, 'attempt outcomes could not be recorded together; recording them one by one'),
    });
  }

  private readonly outcomes: GroupedWriter<AttemptOutcome, void>;

  /** Attempts running now: a sliding window, topped up as soon as one finishes. */
  private readonly inFlight = new Set<Promise<void>>();

  /** Starts the attempts due now, up to the free room in the window; returns how many. */
  protected async batch(): Promise<number> {
    const concurrency = this.options.concurrency ?? 50;
    if (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
    const timeout = this.options.timeoutMs ?? TIMEOUT_MS;
    const claimed = await claimDueDeliveries(this.db, concurrency - this.inFlight.size, Math.ceil(timeout / 1000) + 30);
    for (const delivery of claimed) {
      const running: Promise<void> = this.attempt(delivery, timeout).finally(() => {
        this.inFlight.delete(running);
        // Room in the window: look for more due work (a no-op while a pass is running).
        this.wake();
      });
      this.inFlight.add(running);
    }
    return claimed.length;
  }

  /** The background loop does not wait for slow receivers: finished attempts wake it. */
  protected override loopPass(): Promise<number> {
    return super.drain();
  }

  /** Makes every attempt due now and waits for all of them; returns how many were started. */
  override async drain(): Promise<number> {
    const started = await super.drain();
    await Promise.all(this.inFlight);
    return started;
  }

  override async stop(): Promise<void> {
    await super.stop();
    await Promise.all(this.inFlight);
  }

  private async attempt(d: ClaimedDelivery, timeoutMs: number): Promise<void> {
    const startedAt = new Date();
    const outcome = (status: number | null, error: string | null, delivered: boolean) => {
      const retries = this.options.retrySeconds;
      const result = delivered ? { delivered: true as const } : d.attempt_count <= retries.length && d.active ? { retryAfterSeconds: retries[d.attempt_count - 1]! } : { failed: true as const };
      return { deliveryId: d.id, attempt: d.attempt_count, startedAt, durationMs: Date.now() - startedAt.getTime(), responseStatus: status, error, result };
    };
    // Claims count attempts: past the last one, earlier attempts ended without a record (each
    // recording failed, or the node died). Sending again would only repeat that: end it, visibly.
    if (d.attempt_count > this.options.retrySeconds.length + 1) {
      try {
        await giveUpDelivery(this.db, d.id, `attempt ${d.attempt_count - 1} ended without a recorded result; giving up after the last retry`);
        this.logger.error({ delivery: d.id, attempt: d.attempt_count }, 'webhook delivery given up: its last attempts left no record');
      } catch (error) {
        this.logger.error({ err: error, delivery: d.id }, 'webhook delivery could not be given up');
      }
      return;
    }
    // What this attempt came to, so that a failure to record it can still record that much.
    let sent: { status: number | null; error: string | null; delivered: boolean } = { status: null, error: null, delivered: false };
    try {
      if (!d.url || !d.active) {
        sent.error = d.url ? 'the webhook is inactive' : 'the webhook was deleted';
        await this.outcomes.write(outcome(null, sent.error, false));
        return;
      }
      let body: string;
      try {
        body = await this.bodyOf(d);
      } catch (error) {
        // A body that cannot be built never will be: the attempt fails like a refused one,
        // so the delivery runs out its retries and ends failed, with the reason in the deliveries log.
        sent.error = `the delivery body could not be built: ${messageOf(error)}`;
        await this.outcomes.write(outcome(null, sent.error, false));
        return;
      }
      const result = await send({ url: d.url, body, headers: deliveryHeaders(d, body), timeoutMs, allowPrivate: this.options.allowPrivate });
      sent = { status: result.status, error: result.error, delivered: result.error === null };
      await this.outcomes.write(outcome(result.status, result.error, result.error === null));
      if (result.error) this.logger.info({ delivery: d.id, attempt: d.attempt_count, error: result.error }, 'webhook attempt failed');
    } catch (error) {
      // Without a record the delivery would come back at every lease, unseen: record what is
      // known in the plainest form (the attempt number is the claim's, so the retries still run
      // out). If even that fails (the database is away), the lease brings it back later.
      try {
        const why = `the attempt could not be recorded: ${messageOf(error)}${sent.error ? ` (attempt error: ${sent.error})` : ''}`;
        await recordAttempt(this.db, outcome(sent.status, why, sent.delivered));
        this.logger.error({ delivery: d.id, attempt: d.attempt_count, error: why }, 'webhook attempt recorded without its details');
      } catch (again) {
        this.logger.error({ err: again, first: messageOf(error), delivery: d.id }, 'webhook attempt could not be recorded');
      }
    }
  }

  /** The body to send: stored, or (a batch's first attempt) built from its items and stored. */
  private async bodyOf(d: ClaimedDelivery): Promise<string> {
    if (d.body !== null) return d.body;
    const items = (d.batch_items ?? []).map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
    const body = `{"type":${JSON.stringify(d.event)},"batch":true,"data":[${items.join(',')}]}`;
    await setBody(this.db, d.id, body);
    return body;
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
