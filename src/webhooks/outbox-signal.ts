// Wakes the webhook dispatchers after writes that may have queued outbox rows, from outside the
// writers' transactions. A NOTIFY inside a transaction makes PostgreSQL take a cluster-wide lock
// at its commit, so every concurrent write that queued an event used to wait for the others'
// commits (migration 0011 took the NOTIFY out of the triggers).
//
// Callers say `written()` after a commit: an API request that changed something, an inbound
// batch, a job or sweep. That costs nothing while no webhook is active (the usual case, and the
// reason not to look in the outbox after each request): this node remembers whether any is, and
// refreshes that on each dispatcher pass, when another node says webhooks changed, and when the
// listener reconnected. While some webhook is active, a signal wakes this node's dispatcher and
// sends one NOTIFY for the other nodes, each at most once per interval: the dispatcher drains
// until the outbox is empty, so one wake-up per interval is enough under load, and when quiet the
// first signal goes out at once (no added latency). Polling stays the safety net, for a signal
// lost with a crash between commit and wake-up and for rows written by something other than
// Parley (SQL run by hand, bench/webhooks.ts): while some webhook is active, this node's
// dispatcher is also woken every `activePollMs` (100 ms: an empty pass is 4 short statements, so
// ~40 a second per node, bought only while webhooks exist); without webhooks only the ordinary
// PARLEY_JOB_POLL_MS poll remains.
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { throttledNotify, type ThrottledNotify } from '../db/throttled-notify.ts';
import { anyActiveWebhook, WEBHOOK_EVENTS_CHANNEL, WEBHOOKS_CHANGED } from './outbox-repo.ts';

export interface OutboxSignalOptions {
  /** Wakes this node's dispatcher; a no-op on a node that runs none. */
  wakeLocal: () => void;
  /** At most one local wake-up and one NOTIFY per this many ms (20 unless given). */
  intervalMs?: number;
  /** While some webhook is active, wake this node's dispatcher this often too (0: never). */
  activePollMs?: number;
}

export class OutboxSignal {
  /** Whether some webhook was active when last seen; false until the first refresh says. */
  private active = false;
  /** Counts local webhook changes, so that a refresh that read before one cannot undo it. */
  private changes = 0;
  private refreshing: Promise<void> | null = null;
  private lastWake = -Infinity;
  private wakeTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private poll: NodeJS.Timeout | null = null;
  private readonly notify: ThrottledNotify;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: OutboxSignalOptions,
  ) {
    this.notify = throttledNotify(db, WEBHOOK_EVENTS_CHANNEL, options.intervalMs ?? 20, logger);
  }

  /** Whether a write now wakes dispatchers. */
  get webhooksActive(): boolean {
    return this.active;
  }

  /** After a commit that may have queued outbox rows. */
  written(): void {
    if (this.active) this.fire();
  }

  /**
   * A webhook was created, changed or tested on this node: wake the dispatchers now and tell the
   * other nodes to look again whether any webhook is active.
   */
  webhooksChanged(): void {
    this.changes += 1;
    this.active = true;
    this.fire();
    if (this.stopped) return;
    sql`SELECT pg_notify(${WEBHOOK_EVENTS_CHANNEL}, ${WEBHOOKS_CHANGED})`.execute(this.db).catch((error: unknown) => this.logger.warn({ err: error }, 'NOTIFY of a webhook change failed; other nodes notice at their next poll'));
  }

  /** Looks again whether any webhook is active; one look at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const seen = this.changes;
      try {
        const active = await anyActiveWebhook(this.db);
        if (this.changes === seen) this.active = active;
      } catch (error) {
        // Unknown: waking for nothing costs less than an event that waits for the poll.
        this.active = true;
        this.logger.debug({ err: error }, 'could not tell whether any webhook is active');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Starts the short poll that runs while some webhook is active. */
  start(): void {
    const every = this.options.activePollMs ?? 0;
    if (every <= 0 || this.poll || this.stopped) return;
    this.poll = setInterval(() => {
      if (this.active) this.options.wakeLocal();
    }, every);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.notify.stop();
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
  }

  private fire(): void {
    if (this.stopped) return;
    this.notify.signal();
    if (this.wakeTimer) return;
    const wait = this.lastWake + (this.options.intervalMs ?? 20) - performance.now();
    const wake = () => {
      this.wakeTimer = null;
      this.lastWake = performance.now();
      this.options.wakeLocal();
    };
    if (wait <= 0) wake();
    else {
      this.wakeTimer = setTimeout(wake, wait);
      this.wakeTimer.unref();
    }
  }
}
