// Records the sends Meta accepted, many per statement. Under load, concurrent sends on one node
// would each pay a round trip, a commit and two process wake-ups for a few row writes; here they
// queue while a batch is being written and go together in the next one (one call of
// parley_outbound_messages, one commit). A lone send is written at once, so nothing waits for a
// timer. Every caller still answers only after its own row is committed.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Histogram, type Registry } from 'prom-client';
import { describeError, isDatabaseUnavailable, isTransientConflict } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import type { OutboundRecord } from './outbound.ts';
import { type OutboundItem, type RecordedMessage, recordOutbound, recordOutboundBatch } from './repo.ts';

/** Sends written by one statement at most. */
const MAX_BATCH = 64;
/** Batches of one node being written at the same time. */
const MAX_IN_FLIGHT = 2;
/** Tries of a batch (or of one send) that meets a deadlock or serialisation failure. */
const ATTEMPTS = 3;

interface Pending {
  item: OutboundItem;
  resolve: (recorded: RecordedMessage | null) => void;
}

export class OutboundRecorder {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private batchSize: Histogram | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
  ) {}

  /** Reports the sizes of the batches written (GET /metrics): `_count` statements, `_sum` sends. */
  registerMetrics(registry: Registry): void {
    this.batchSize = new Histogram({
      name: 'parley_send_record_batch_size',
      help: 'Accepted sends written to the message history per statement (one per send when not under load)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    });
  }

  /**
   * Stores the message with its contact and conversation. Resolves to null when the wamid was
   * stored already, or when it could not be stored (logged here: Meta has the message anyway).
   */
  record(projectId: string, number: OutboundItem['number'], record: OutboundRecord): Promise<RecordedMessage | null> {
    return new Promise((resolve) => {
      this.queue.push({ item: { projectId, number, record }, resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    this.batchSize?.observe(batch.length);
    if (batch.length > 1) {
      // Two batches (here or on other nodes) lock contacts and conversations in the same order,
      // so they wait for each other instead of deadlocking. The sort is stable: two sends to one
      // person keep their order.
      batch.sort((a, b) => compare(lockKey(a.item), lockKey(b.item)));
      for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
        try {
          const recorded = await recordOutboundBatch(this.db, batch.map((p) => p.item));
          batch.forEach((p, i) => p.resolve(recorded[i] ?? null));
          return;
        } catch (error) {
          if (isTransientConflict(error) && attempt < ATTEMPTS) continue;
          if (isDatabaseUnavailable(error)) {
            // Alone they would fail the same way.
            for (const p of batch) p.resolve(this.lost(p.item, error, attempt));
            return;
          }
          // One bad send must not cost the others their rows: each is tried on its own.
          this.logger.warn({ sends: batch.length, cause: describeError(error) }, 'a batch of sends could not be recorded together; recording them one by one');
          break;
        }
      }
    }
    await Promise.all(batch.map(async (p) => p.resolve(await this.writeOne(p.item))));
  }

  private async writeOne(item: OutboundItem): Promise<RecordedMessage | null> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await recordOutbound(this.db, item.projectId, item.number, item.record);
      } catch (error) {
        if (isTransientConflict(error) && attempt < ATTEMPTS) continue;
        return this.lost(item, error, attempt);
      }
    }
  }

  /** Meta has the message and the client gets Meta's answer; the only trace of it here is this line. */
  private lost(item: OutboundItem, error: unknown, attempts: number): null {
    this.logger.error(
      { wamid: item.record.wamid, project_id: item.projectId, phone_number_id: item.number.phone_number_id, attempts, cause: describeError(error) },
      'message accepted by Meta but NOT recorded: it is missing from the message history',
    );
    return null;
  }
}

const lockKey = (item: OutboundItem) => `${item.projectId} ${item.record.wa_id ?? ''} ${item.record.bsuid ?? ''}`;
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
