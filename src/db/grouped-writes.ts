// Writes that many requests or workers make one row at a time, grouped: while a statement is being
// written, the writes that arrive wait and go together in the next one (one statement, one commit
// for many). A lone write goes at once, so nothing waits for a timer; under load each commit, WAL
// flush and round trip is shared. Every caller's promise settles only after its own row is
// committed (or has failed), as if it had written alone.
import { isTransientConflict } from './errors.ts';

export interface GroupedWriterOptions<T, R> {
  /** Writes in one statement at most. */
  maxBatch: number;
  /** Statements of this writer in flight at once. */
  maxInFlight: number;
  /** Writes several in one statement; position i of the answer is item i's. */
  many(items: T[]): Promise<R[]>;
  /** Writes one: alone, or when its batch failed, so that a bad item costs only itself. */
  one(item: T): Promise<R>;
  /**
   * Orders a batch before it is written. Two batches that lock the same rows in the same order
   * wait for each other instead of deadlocking. Must be stable for items that lock the same rows.
   */
  compare?: (a: T, b: T) => number;
  /** A batch's error after which trying each item alone is pointless (the database is away): every item fails with it. */
  failsAll?: (error: unknown) => boolean;
  /** Told when a batch failed and its items are tried one by one. */
  onBatchFailed?: (error: unknown, size: number) => void;
  /** Told the size of every statement's group (for metrics). */
  onWrite?: (size: number) => void;
}

/** Tries of a batch that meets a deadlock or serialisation failure. */
const BATCH_ATTEMPTS = 3;

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class GroupedWriter<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private inFlight = 0;

  constructor(private readonly options: GroupedWriterOptions<T, R>) {}

  write(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Writes queued or in flight; 0 when idle. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight += 1;
      void this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async run(batch: Pending<T, R>[]): Promise<void> {
    this.options.onWrite?.(batch.length);
    if (batch.length > 1) {
      const { compare } = this.options;
      if (compare) batch.sort((a, b) => compare(a.item, b.item));
      for (let attempt = 1; attempt <= BATCH_ATTEMPTS; attempt += 1) {
        try {
          const results = await this.options.many(batch.map((p) => p.item));
          batch.forEach((p, i) => p.resolve(results[i]!));
          return;
        } catch (error) {
          if (isTransientConflict(error) && attempt < BATCH_ATTEMPTS) continue;
          if (this.options.failsAll?.(error)) {
            for (const p of batch) p.reject(error);
            return;
          }
          this.options.onBatchFailed?.(error, batch.length);
          break;
        }
      }
    }
    await Promise.all(batch.map((p) => this.options.one(p.item).then(p.resolve, p.reject)));
  }
}
