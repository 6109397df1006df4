// The API log's writer: requests are buffered in memory and written in batches, one INSERT over
// column arrays at a time, so that a request never waits for its log row. A crash loses what the buffer
// held (at most one flush interval of rows); close() writes the rest on an orderly stop.
//
// While the database refuses the writes the rows stay buffered and are retried with a growing
// pause; the buffer is bounded, and past its bound the oldest rows are dropped and counted
// (logged once a minute at most, and exposed in /metrics). A batch refused because of one of its
// rows (a value the table rejects) is written row by row so that only the bad row is lost.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { pgErrorCode } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { RepeatedErrors } from '../jobs/repeated-errors.ts';
import { type ApiLogEntry, ApiLogColumns } from './columns.ts';
import { insertApiLogColumns } from './repo.ts';

export interface RecorderOptions {
  /** How long a row may wait in the buffer before its batch is written. */
  flushMs?: number;
  /** Rows per INSERT; a full batch is written at once. */
  batchSize?: number;
  /** Rows held at most while writes fail; beyond it the oldest are dropped. */
  maxBuffered?: number;
}

const DEFAULTS = { flushMs: 250, batchSize: 500, maxBuffered: 50_000 };
/** The longest pause between retries while the database refuses the writes. */
const MAX_RETRY_MS = 5_000;
const DROP_WARNING_EVERY_MS = 60_000;

/** SQLSTATE classes that blame a row (22 data exception, 23 integrity violation), not the database. */
const isRowError = (error: unknown): boolean => /^2[23]/.test(pgErrorCode(error) ?? '');

export class ApiLogRecorder {
  /** Rows dropped since start: the buffer was full, or the table refused the row. */
  dropped = 0;
  private buffer = new ApiLogColumns();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private failuresInARow = 0;
  private closed = false;
  private unwarnedDrops = 0;
  private lastDropWarning = 0;
  private readonly options: typeof DEFAULTS;
  private readonly errors: RepeatedErrors;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    options: RecorderOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.errors = new RepeatedErrors(logger, 'API log write');
  }

  /** Rows waiting to be written. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Buffers one row; never waits and never throws. */
  record(entry: ApiLogEntry): void {
    if (this.closed) return;
    this.buffer.pushEntry(entry);
    this.afterPush();
  }

  /**
   * The request hook's way in: the same as record() without an object per request. Time in epoch
   * milliseconds.
   */
  recordRequest(
    projectId: string,
    apiKeyId: string | null,
    apiKeyName: string | null,
    createdAtMs: number,
    method: string,
    endpoint: string,
    statusCode: number,
    responseTimeMs: number,
    ip: string | null,
    errorMessage: string | null,
  ): void {
    if (this.closed) return;
    this.buffer.push(projectId, apiKeyId, apiKeyName, createdAtMs, method, endpoint, statusCode, responseTimeMs, ip, errorMessage);
    this.afterPush();
  }

  private afterPush(): void {
    this.enforceBound();
    // The write in progress schedules the next one; after a failed write the retry timer does.
    if (this.writing || (this.failuresInARow > 0 && this.timer)) return;
    if (this.buffer.length >= this.options.batchSize) this.schedule(0);
    else this.timer ??= this.arm(this.options.flushMs);
  }

  /** Writes everything buffered now (one attempt; rows that fail stay buffered for the next). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.buffer.length === 0) return;
    this.clearTimer();
    this.writing = this.writeAll();
    try {
      await this.writing;
    } finally {
      this.writing = null;
      this.scheduleAfterWrite();
    }
  }

  /** On shutdown: no more rows are taken, and what is buffered is written (one attempt). */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.flush();
    this.clearTimer();
    this.warnDropped(true);
    if (this.buffer.length > 0) this.logger.warn({ rows: this.buffer.length }, 'API log rows could not be written before stopping and are lost');
    this.errors.flush();
  }

  /**
   * Writes the rows buffered when it starts, a batch at a time. Rows that arrive meanwhile wait
   * for the next flush: writing them at once would turn a busy server's log into a stream of small
   * INSERTs back to back, each paying a statement's overhead for a few rows.
   */
  private async writeAll(): Promise<void> {
    let remaining = this.buffer.length;
    while (remaining > 0 && this.buffer.length > 0) {
      const batch = this.buffer.takeOldest(Math.min(this.options.batchSize, remaining));
      remaining -= batch.length;
      try {
        await insertApiLogColumns(this.db, batch);
      } catch (error) {
        if (isRowError(error)) {
          const stopped = await this.writeOneByOne(batch);
          if (stopped === null) continue;
          this.failedWrite(stopped);
          return;
        }
        // Back at the front, oldest first, for the next attempt.
        this.buffer.putBackInFront(batch);
        this.failedWrite(error);
        return;
      }
      this.failuresInARow = 0;
      this.errors.succeeded();
    }
    this.warnDropped(false);
  }

  private failedWrite(error: unknown): void {
    this.enforceBound();
    this.failuresInARow += 1;
    this.errors.failed(error, { buffered: this.buffer.length });
  }

  /** Returns null when every row was written or refused, else the error that stopped it (its rows put back). */
  private async writeOneByOne(batch: ApiLogColumns): Promise<unknown> {
    for (let i = 0; i < batch.length; i++) {
      try {
        await insertApiLogColumns(this.db, batch.slice(i, i + 1));
      } catch (error) {
        if (!isRowError(error)) {
          this.buffer.putBackInFront(batch.slice(i));
          return error;
        }
        this.dropped += 1;
        this.logger.warn({ err: error, endpoint: batch.endpoint[i] }, 'API log row refused by the database and dropped');
      }
    }
    return null;
  }

  /** Drops the oldest rows beyond the bound, a batch at a time so that dropping stays cheap. */
  private enforceBound(): void {
    const excess = this.buffer.length - this.options.maxBuffered;
    if (excess <= 0) return;
    // A tenth of the bound at most, so that one overflow never empties the buffer.
    const count = Math.min(this.buffer.length, Math.max(excess, Math.min(this.options.batchSize, Math.floor(this.options.maxBuffered / 10))));
    this.buffer.takeOldest(count);
    this.dropped += count;
    this.unwarnedDrops += count;
    this.warnDropped(false);
  }

  private warnDropped(force: boolean): void {
    if (this.unwarnedDrops === 0) return;
    const now = Date.now();
    if (!force && now - this.lastDropWarning < DROP_WARNING_EVERY_MS) return;
    this.logger.warn({ dropped: this.unwarnedDrops, total: this.dropped }, 'API log buffer full while the database refused writes: dropped the oldest rows');
    this.unwarnedDrops = 0;
    this.lastDropWarning = now;
  }

  private scheduleAfterWrite(): void {
    if (this.closed || this.buffer.length === 0) return;
    if (this.failuresInARow > 0) this.schedule(Math.min(MAX_RETRY_MS, this.options.flushMs * 2 ** this.failuresInARow));
    else this.schedule(this.buffer.length >= this.options.batchSize ? 0 : this.options.flushMs);
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = this.arm(ms);
  }

  private arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timer = null;
      // flush() never rejects: a failed write is kept, logged and retried.
      void this.flush();
    }, ms);
    timer.unref();
    return timer;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
