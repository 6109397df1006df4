// Stores Meta webhook bodies durably, several per INSERT when requests arrive together. Each
// request still gets its answer only after the commit that holds its body; under load one
// commit (and one WAL flush) serves many requests instead of one each. A few INSERTs run at a
// time, so a lone request is stored at once and never waits for a batch to fill.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { storeEvents } from './events-repo.ts';

interface Waiting {
  body: string;
  lane: number | null;
  done: (error?: unknown) => void;
}

export interface EventStoreOptions {
  /** INSERTs in flight at once (each on its own pooled connection). */
  concurrency?: number;
  /** Bodies per INSERT at most. */
  maxBodies?: number;
  /** Characters per INSERT at most (bodies are up to 1 MiB each). */
  maxChars?: number;
}

export class EventStore {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly concurrency: number;
  private readonly maxBodies: number;
  private readonly maxChars: number;

  constructor(
    private readonly db: Kysely<Database>,
    options: EventStoreOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.maxBodies = options.maxBodies ?? 200;
    this.maxChars = options.maxChars ?? 4 * 1024 * 1024;
  }

  /** Resolves once the body is committed; `lane`: its sender lane (sender-lane.ts), null when mixed. */
  store(body: string, lane: number | null = null): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ body, lane, done: (error) => (error === undefined ? resolve() : reject(error)) });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.concurrency && this.waiting.length > 0) {
      const batch = this.take();
      this.inFlight += 1;
      storeEvents(
        this.db,
        batch.map((w) => ({ body: w.body, lane: w.lane })),
      ).then(
        () => {
          for (const w of batch) w.done();
        },
        (error: unknown) => {
          for (const w of batch) w.done(error ?? new Error('storing Meta webhook bodies failed'));
        },
      ).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
  }

  /** The oldest waiting bodies, within the per-INSERT limits (at least one). */
  private take(): Waiting[] {
    let count = 0;
    let chars = 0;
    while (count < this.waiting.length && count < this.maxBodies && (count === 0 || chars + this.waiting[count]!.body.length <= this.maxChars)) {
      chars += this.waiting[count]!.body.length;
      count += 1;
    }
    return this.waiting.splice(0, count);
  }
}
