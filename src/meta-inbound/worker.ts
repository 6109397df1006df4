// The inbound worker: takes stored Meta bodies in batches, each batch in one transaction with
// its rows locked (FOR UPDATE SKIP LOCKED), so several workers on several nodes share the
// queue and each body's effects commit exactly once, together with its new state.
//
// Consecutive bodies that hold only ordinary messages go to the database as one call
// (message-batch.ts), under one savepoint; everything else, and every body of a call that
// failed, is processed one body at a time under its own savepoint (processor.ts). A body whose
// processing fails is rolled back to its savepoint and retried later (after a wait that grows
// with each attempt); after MAX_ATTEMPTS it is parked as `failed` with the error, where an
// operator can see it.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { isTransientConflict } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { BatchWorker } from '../jobs/polling-loop.ts';
import { emitMetaRaw } from '../webhooks/outbox-repo.ts';
import { countAttempt, finishEvent, lockAllLanes, lockPendingEvents, lockPendingLaneEvents, tryLanes } from './events-repo.ts';
import { type BatchBody, ingestBatch, numbersOf, planBody } from './message-batch.ts';
import type { MetaWebhookBody } from './payload.ts';
import { processEvent } from './processor.ts';
import { SENDER_LANES } from './sender-lane.ts';

type Tx = Transaction<Database>;

const MAX_ATTEMPTS = 5;
/** The wait after each failed attempt but the last. */
export const INBOUND_RETRY_SECONDS = [2, 10, 60, 300] as const;

/**
 * PostgreSQL text and jsonb cannot hold U+0000, yet valid JSON may carry one escaped in a
 * string ("\u0000"); left in, the body would fail on every attempt and end `failed`.
 */
const withoutNul = (_key: string, value: unknown): unknown => (typeof value === 'string' && value.includes('\u0000') ? value.replace(/\u0000/g, '') : value);

/** The parsed body, or null when it is not JSON. */
function parse(text: string): MetaWebhookBody | null {
  try {
    return JSON.parse(text, withoutNul) as MetaWebhookBody;
  } catch {
    return null;
  }
}

interface LockedEvent {
  id: number;
  attempts: number;
  body: MetaWebhookBody | null;
}

interface Failure {
  id: number;
  error: string;
  final: boolean;
}

export interface MetaEventWorkerOptions {
  pollMs: number;
  /** Bodies per transaction. */
  batchSize?: number;
  /** Waits after failed attempts (INBOUND_RETRY_SECONDS unless given). */
  retrySeconds?: readonly number[];
  /** This loop's place among the node's loops (0-based) and their number: which lanes it tries first. */
  loop?: { index: number; of: number };
  /** Called after each committed batch that handled at least one body (the server wakes the webhook dispatchers). */
  onProcessed?: () => void;
}

// Loops share the queue by sender lanes (sender-lane.ts): a batch holds its lanes' advisory
// locks until it commits, so no two loops, on one node or many, ever hold bodies of the same
// sender, and each sender's bodies commit in queue order. (Before lanes, a second loop mostly
// waited for or deadlocked with the first on the same users' rows: bench/RESULTS.md.)
export class MetaEventWorker extends BatchWorker {
  /** The lanes this loop tries first, then the others; at most `laneShare` per batch. */
  private readonly ownLanes: number[];
  private readonly otherLanes: number[];
  private readonly laneShare: number;
  private batches = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: MetaEventWorkerOptions,
  ) {
    const loop = options.loop ?? { index: 0, of: 1 };
    super(logger, options.pollMs, loop.of > 1 ? `inbound worker ${loop.index + 1}/${loop.of}` : 'inbound worker');
    const lanes = Array.from({ length: SENDER_LANES }, (_, lane) => lane);
    this.ownLanes = lanes.filter((lane) => lane % loop.of === loop.index);
    this.otherLanes = lanes.filter((lane) => lane % loop.of !== loop.index);
    // Never all lanes at once, even for a lone loop: a loop of another node must find some free.
    this.laneShare = Math.ceil(SENDER_LANES / Math.max(2, loop.of));
  }

  /**
   * This batch's order of lanes to try: each group rotated by a whole share per batch, so a
   * lone loop alternates between the two halves of the lanes and no lane waits more than a
   * batch or two for its turn.
   */
  private laneOrder(): number[] {
    const shift = this.batches++ * this.laneShare;
    const rotate = (lanes: number[]) => (lanes.length === 0 ? lanes : [...lanes.slice(shift % lanes.length), ...lanes.slice(0, shift % lanes.length)]);
    return [...rotate(this.ownLanes), ...rotate(this.otherLanes)];
  }

  /**
   * Locks this batch's bodies: those of the lanes it could take, or, while a mixed body (no lane)
   * is due, the oldest of all, with every lane held (as one loop alone would).
   */
  private async claim(tx: Tx, limit: number): Promise<{ id: number; body: string; attempts: number }[]> {
    const order = this.laneOrder();
    const first = await tryLanes(tx, order, this.laneShare);
    if (first.mixedDue) {
      await lockAllLanes(tx);
      return lockPendingEvents(tx, limit);
    }
    const rows = first.held.length > 0 ? await lockPendingLaneEvents(tx, first.held, limit) : [];
    if (rows.length > 0) return rows;
    // Nothing in those lanes: try the rest. (A mixed body seen now waits for the next batch:
    // waiting for all lanes while holding some could deadlock with another loop doing the same.)
    const rest = order.filter((lane) => !first.held.includes(lane));
    const more = rest.length > 0 ? await tryLanes(tx, rest, SENDER_LANES) : { held: [] };
    return more.held.length > 0 ? lockPendingLaneEvents(tx, more.held, limit) : [];
  }

  /** One batch in one transaction; returns how many bodies it handled. */
  async batch(): Promise<number> {
    const failures: Failure[] = [];
    const handled = await this.db.transaction().execute(async (tx) => {
      const locked = await this.claim(tx, this.options.batchSize ?? 50);
      const events: LockedEvent[] = locked.map((e) => ({ id: e.id, attempts: e.attempts, body: parse(e.body) }));
      const numbers = await numbersOf(tx, events.map((e) => e.body));
      // Bodies are handled in queue order: a run of plain-message bodies is sent as one call
      // when the next body needs the general path (or at the end).
      let run: { event: LockedEvent; planned: BatchBody }[] = [];
      for (const event of events) {
        let planned: BatchBody | null = null;
        try {
          planned = planBody(event.id, event.body, numbers);
        } catch {
          // A malformed body: the general path records why it fails.
        }
        if (planned) {
          run.push({ event, planned });
          continue;
        }
        await this.ingestRun(tx, run, failures);
        run = [];
        await this.processOne(tx, event, failures);
      }
      await this.ingestRun(tx, run, failures);
      return events.length;
    });
    if (handled > 0) this.options.onProcessed?.();
    for (const failure of failures) {
      this.logger.error({ event: failure.id, final: failure.final, error: failure.error }, 'inbound event failed');
    }
    // A failed body stays pending for its next attempt: do not spin on it within this pass.
    return failures.length === handled ? 0 : handled;
  }

  /** A run of plain-message bodies in one call; when it fails, each body again on its own. */
  private async ingestRun(tx: Tx, run: { event: LockedEvent; planned: BatchBody }[], failures: Failure[]): Promise<void> {
    if (run.length === 0) return;
    await sql`SAVEPOINT batch`.execute(tx);
    try {
      await ingestBatch(tx, run.map((r) => r.planned));
      await sql`RELEASE SAVEPOINT batch`.execute(tx);
      return;
    } catch (error) {
      await sql`ROLLBACK TO SAVEPOINT batch`.execute(tx);
      await sql`RELEASE SAVEPOINT batch`.execute(tx);
      this.logger.info({ events: run.length, error: error instanceof Error ? error.message : String(error) }, 'inbound batch call failed; processing its bodies one by one');
    }
    for (const { event } of run) await this.processOne(tx, event, failures);
  }

  /** One body through the general path, under its own savepoint. */
  private async processOne(tx: Tx, event: LockedEvent, failures: Failure[]): Promise<void> {
    await sql`SAVEPOINT event`.execute(tx);
    try {
      if (event.body === null) {
        await finishEvent(tx, event.id, 'skipped', 'body is not JSON');
      } else {
        const result = await processEvent(tx, event.body);
        for (const number of result.numbers) await emitMetaRaw(tx, number.project_id, number.phone_number_id, event.id);
        await finishEvent(tx, event.id, result.state, result.note);
        if (result.note) this.logger.info({ event: event.id, state: result.state, note: result.note }, 'inbound event');
      }
      await sql`RELEASE SAVEPOINT event`.execute(tx);
    } catch (error) {
      await sql`ROLLBACK TO SAVEPOINT event`.execute(tx);
      const message = error instanceof Error ? error.message : String(error);
      // Two workers touching the same users in another order can deadlock; that says nothing
      // about the body, so it is retried without spending one of its attempts.
      if (isTransientConflict(error)) {
        failures.push({ id: event.id, error: message, final: false });
        return;
      }
      const final = event.attempts + 1 >= MAX_ATTEMPTS;
      const retries = this.options.retrySeconds ?? INBOUND_RETRY_SECONDS;
      await countAttempt(tx, event.id, message, final, retries[Math.min(event.attempts, retries.length - 1)] ?? 0);
      failures.push({ id: event.id, error: message, final });
    }
  }
}
