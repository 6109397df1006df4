// Records the sends Meta accepted, many per statement (src/db/grouped-writes.ts). Under load,
// concurrent sends on one node would each pay a round trip, a commit and two process wake-ups for
// a few row writes; here the sends that arrive while a batch is being written go together in the
// next one (one call of parley_outbound_messages). Every caller still answers only after its own
// row is committed.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Histogram, type Registry } from 'prom-client';
import { describeError, isDatabaseUnavailable, isTransientConflict } from '../db/errors.ts';
import { GroupedWriter } from '../db/grouped-writes.ts';
import type { Database } from '../db/schema.ts';
import type { OutboundRecord } from './outbound.ts';
import { type OutboundItem, type RecordedMessage, recordOutboundBatch } from './repo.ts';

/** Tries of one send that meets a deadlock or serialisation failure. */
const ATTEMPTS = 3;

const lockKey = (item: OutboundItem) => `${item.projectId} ${item.record.wa_id ?? ''} ${item.record.bsuid ?? ''}`;

export class OutboundRecorder {
  private readonly writer: GroupedWriter<OutboundItem, RecordedMessage | null>;
  private batchSize: Histogram | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
  ) {
    this.writer = new GroupedWriter({
      maxBatch: 64,
      maxInFlight: 2,
      many: (items) => recordOutboundBatch(this.db, items),
      one: (item) => this.writeOne(item),
      // Batches lock contacts and conversations in the order of the people they are for; two
      // sends to one person keep their order (the sort is stable).
      compare: (a, b) => {
        const x = lockKey(a);
        const y = lockKey(b);
        return x < y ? -1 : x > y ? 1 : 0;
      },
      // Alone they would fail the same way.
      failsAll: isDatabaseUnavailable,
      onBatchFailed: (error, size) => this.logger.warn({ sends: size, cause: describeError(error) }, 'a batch of sends could not be recorded together; recording them one by one'),
      onWrite: (size) => this.batchSize?.observe(size),
    });
  }

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
    const item = { projectId, number, record };
    return this.writer.write(item).catch((error: unknown) => this.lost(item, error, 1));
  }

  private async writeOne(item: OutboundItem): Promise<RecordedMessage | null> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return (await recordOutboundBatch(this.db, [item]))[0] ?? null;
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
