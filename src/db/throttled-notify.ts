// A NOTIFY for other nodes that is sent on its own (never inside a writer's transaction, where
// it would serialise that transaction's commit with every other notifying one) and at most
// once per interval: under load one wake-up per interval is enough for a worker that drains
// until the queue is empty, and when quiet the first signal goes out at once.
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from './errors.ts';
import type { Database } from './schema.ts';

export interface ThrottledNotify {
  /** Asks for a NOTIFY: now, or at the end of the current interval. */
  signal(): void;
  /** Drops a NOTIFY still waiting for its interval (at shutdown). */
  stop(): void;
}

export function throttledNotify(db: Kysely<Database>, channel: string, intervalMs: number, logger: Logger): ThrottledNotify {
  let lastSent = -Infinity;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const send = () => {
    timer = null;
    lastSent = performance.now();
    sql`SELECT pg_notify(${channel}, '')`.execute(db).catch((error: unknown) => {
      // While the database is away its outage is logged once (src/db/health.ts); a line per
      // failed NOTIFY would only bury it.
      logger[isDatabaseUnavailable(error) ? 'debug' : 'warn']({ err: error, channel }, 'NOTIFY failed; other nodes fall back to polling');
    });
  };
  return {
    signal() {
      if (timer || stopped) return;
      const wait = lastSent + intervalMs - performance.now();
      if (wait <= 0) send();
      else {
        timer = setTimeout(send, wait);
        timer.unref();
      }
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
