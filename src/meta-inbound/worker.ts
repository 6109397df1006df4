// The inbound worker: takes stored Meta bodies in batches, each batch in one transaction with
// its rows locked (FOR UPDATE SKIP LOCKED), so several workers on several nodes share the
// queue and each body's effects commit exactly once, together with its new state. A body whose
// processing fails is rolled back to a savepoint and retried later; after MAX_ATTEMPTS it is
// parked as `failed` with the error, where an operator can see it.
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { pgErrorCode } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { PollingLoop } from '../jobs/polling-loop.ts';
import { countAttempt, finishEvent, lockPendingEvents } from './events-repo.ts';
import { emitMetaRaw } from '../webhooks/outbox-repo.ts';
import { processEvent } from './processor.ts';

const MAX_ATTEMPTS = 5;
/** deadlock_detected, serialization_failure. */
const TRANSIENT = new Set(['40P01', '40001']);

/**
 * PostgreSQL text and jsonb cannot hold U+0000, yet valid JSON may carry one escaped in a
 * string ("\u0000"); left in, the body would fail on every attempt and end `failed`.
 */
const withoutNul = (_key: string, value: unknown): unknown => (typeof value === 'string' && value.includes('\u0000') ? value.replace(/\u0000/g, '') : value);

export class MetaEventWorker {
  private readonly loop: PollingLoop;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: { pollMs: number; batchSize?: number },
  ) {
    this.loop = new PollingLoop(() => this.drain(), options.pollMs, logger, 'inbound worker');
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Processes batches until the queue is empty (or stop was asked); returns how many bodies. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.batch();
      total += count;
      if (count === 0 || this.loop.stopRequested) return total;
    }
  }

  /** One batch in one transaction; returns how many bodies it handled. */
  async batch(): Promise<number> {
    const failures: { id: number; error: string; final: boolean }[] = [];
    const handled = await this.db.transaction().execute(async (tx) => {
      const events = await lockPendingEvents(tx, this.options.batchSize ?? 50);
      for (const event of events) {
        await sql`SAVEPOINT event`.execute(tx);
        try {
          let body: unknown;
          try {
            body = JSON.parse(event.body, withoutNul);
          } catch {
            await finishEvent(tx, event.id, 'skipped', 'body is not JSON');
            continue;
          }
          const result = await processEvent(tx, body as never);
          for (const number of result.numbers) await emitMetaRaw(tx, number.project_id, number.phone_number_id, event.id);
          await finishEvent(tx, event.id, result.state, result.note);
          if (result.note) this.logger.info({ event: event.id, state: result.state, note: result.note }, 'inbound event');
          await sql`RELEASE SAVEPOINT event`.execute(tx);
        } catch (error) {
          await sql`ROLLBACK TO SAVEPOINT event`.execute(tx);
          const message = error instanceof Error ? error.message : String(error);
          // Two workers touching the same users in another order can deadlock; that says nothing
          // about the body, so it is retried without spending one of its attempts.
          if (TRANSIENT.has(pgErrorCode(error) ?? '')) {
            failures.push({ id: event.id, error: message, final: false });
            continue;
          }
          const final = event.attempts + 1 >= MAX_ATTEMPTS;
          await countAttempt(tx, event.id, message, final);
          failures.push({ id: event.id, error: message, final });
        }
      }
      return events.length;
    });
    for (const failure of failures) {
      this.logger.error({ event: failure.id, final: failure.final, error: failure.error }, 'inbound event failed');
    }
    // A failed body stays pending for its next attempt: do not spin on it within this pass.
    return failures.length === handled ? 0 : handled;
  }
}
