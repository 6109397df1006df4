// The per-key limit of requests per minute, held for the whole cluster.
//
// Each node takes tokens from the key's row of the current minute in small batches
// (rate-limit-repo.ts) and spends them in memory, so a request waits on the database only when
// the node holds none; a background refill starts once half of the last batch is spent. The
// database never hands out more than the limit in a window, so the cluster never accepts more.
// It accepts the whole limit too, as long as requests keep coming: a batch is at most 1/16 of
// what the window has left, and a node that goes quiet for IDLE_RETURN_MS hands its unused
// tokens back. A node that dies holding tokens withholds at most its last batch, until the
// minute ends.
//
// When the database cannot be reached the node counts the key's limit in its own memory for the
// minute (as a single node would) instead of refusing: the routes that need the database answer
// 503 on their own, and those that can still answer (cached keys, the proxy) keep working.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { returnTokens, takeTokens } from './rate-limit-repo.ts';

const WINDOW_MS = 60_000;
/** The first batch a node asks for in a window; doubled on each full grant, up to MAX_BATCH. */
const FIRST_BATCH = 8;
const MAX_BATCH = 1000;
/** A node that took no token of a key for this long hands its unused tokens back. */
const IDLE_RETURN_MS = 2_000;
/** How soon a node that was told the window is spent (or that failed to reach the database) asks again. */
const RECHECK_MS = 1_000;
const SWEEP_MS = 1_000;

interface KeyWindow {
  window: number;
  limit: number;
  /** Tokens this node holds unspent. */
  local: number;
  /** Tokens handed to all nodes in the window, as of this node's last grant. */
  taken: number;
  want: number;
  lastBatch: number;
  lastTake: number;
  /** Set when a grant came back empty: refuse without asking until `recheckAt`. */
  spent: boolean;
  /** Counting in memory after a failed grant (the database unreachable). */
  fallback: boolean;
  recheckAt: number;
  /** Accepted by this node in the window (the count the fallback limits). */
  accepted: number;
  refill: Promise<void> | null;
}

export interface ClusterRateLimiterOptions {
  logger?: Logger;
  now?: () => number;
}

export class ClusterRateLimiter {
  private readonly entries = new Map<string, KeyWindow>();
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    options: ClusterRateLimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Counts one request of `key` against `limit` per minute; resolves to what the cluster has
   * left as far as this node knows, or -1 when the request is over the limit. Synchronous
   * while this node holds tokens.
   */
  take(key: string, limit: number): number | Promise<number> {
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    let entry = this.entries.get(key);
    if (!entry || entry.window !== window || entry.limit !== limit) {
      // Tokens of an earlier window are void; a changed limit starts counting this node afresh.
      if (entry && entry.window === window && !entry.refill) void this.giveBack(key, entry);
      entry = { window, limit, local: 0, taken: 0, want: FIRST_BATCH, lastBatch: 0, lastTake: now, spent: false, fallback: false, recheckAt: 0, accepted: 0, refill: null };
      this.entries.set(key, entry);
    }
    entry.lastTake = now;
    if (entry.local > 0) return this.spend(key, entry);
    if (entry.fallback) {
      // A database that is down may take its connect timeout to say so: never wait for it here.
      if (now >= entry.recheckAt) this.startRefill(key, entry);
      return this.spend(key, entry);
    }
    // A spent window is refused from memory; once a second a request asks whether tokens came back.
    if (entry.spent && now < entry.recheckAt && !entry.refill) return -1;
    return this.waitAndSpend(key, entry);
  }

  /** Whole seconds until the current window ends (what Retry-After says), at least 1. */
  secondsToReset(): number {
    return Math.max(1, Math.ceil((WINDOW_MS - (this.now() % WINDOW_MS)) / 1000));
  }

  /** Hands back every unused token and stops the background work. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    await Promise.all([...this.entries].map(async ([key, entry]) => {
      await entry.refill?.catch(() => undefined);
      await this.giveBack(key, entry);
    }));
  }

  private spend(key: string, entry: KeyWindow): number {
    if (entry.local > 0) {
      entry.local -= 1;
      entry.accepted += 1;
      // Batches of one (a window nearly spent, or a tiny limit) are not fetched ahead: a token
      // fetched ahead and then not used is one the other nodes cannot have.
      if (entry.lastBatch > 1 && entry.local <= entry.lastBatch >> 1 && !entry.spent && !entry.fallback) this.startRefill(key, entry);
      return Math.max(0, Math.min(entry.limit, entry.limit - entry.taken + entry.local));
    }
    if (entry.fallback && entry.accepted < entry.limit) {
      entry.accepted += 1;
      return entry.limit - entry.accepted;
    }
    return -1;
  }

  private async waitAndSpend(key: string, entry: KeyWindow): Promise<number> {
    // Concurrent requests share a grant; one that finds it spent by the others asks again.
    for (;;) {
      this.startRefill(key, entry);
      await entry.refill;
      // The window ended, or the entry was swept, while waiting (a slow database can take longer
      // than the idle sweep allows): count the request afresh instead of refusing it.
      if (this.entries.get(key) !== entry) return this.take(key, entry.limit);
      if (entry.local > 0 || entry.fallback || (entry.spent && this.now() < entry.recheckAt)) return this.spend(key, entry);
    }
  }

  private startRefill(key: string, entry: KeyWindow): void {
    if (entry.refill || this.closed) return;
    entry.refill = this.refill(key, entry).finally(() => {
      entry.refill = null;
    });
  }

  private async refill(key: string, entry: KeyWindow): Promise<void> {
    try {
      const grant = await takeTokens(this.db, key, entry.window, entry.want, entry.limit);
      if (entry.fallback) this.logger?.info({ keyPrefix: key }, 'rate limit counted for the cluster again');
      entry.fallback = false;
      entry.taken = grant.taken;
      entry.local += grant.granted;
      entry.lastBatch = grant.granted;
      entry.spent = grant.granted === 0;
      if (entry.spent) entry.recheckAt = this.now() + RECHECK_MS;
      else if (grant.granted >= entry.want) entry.want = Math.min(entry.want * 2, MAX_BATCH);
      if (this.entries.get(key) !== entry) await this.giveBack(key, entry);
    } catch (error) {
      if (!entry.fallback) this.logger?.[isDatabaseUnavailable(error) ? 'debug' : 'warn']({ err: error, keyPrefix: key }, 'rate limit tokens could not be taken from the database; counting on this node until it answers');
      entry.fallback = true;
      entry.recheckAt = this.now() + RECHECK_MS;
    }
  }

  private async giveBack(key: string, entry: KeyWindow): Promise<void> {
    const count = entry.local;
    if (count <= 0 || entry.fallback) return;
    entry.local = 0;
    entry.want = FIRST_BATCH;
    entry.taken -= count;
    try {
      await returnTokens(this.db, key, entry.window, count);
    } catch (error) {
      // Lost for this window only: the next minute has a row of its own. An outage is logged
      // once elsewhere (src/db/health.ts), so it is not repeated here.
      this.logger?.[isDatabaseUnavailable(error) ? 'debug' : 'warn']({ err: error, keyPrefix: key }, 'unused rate limit tokens could not be handed back');
    }
  }

  /** Forgets ended windows and hands back the tokens of keys idle for IDLE_RETURN_MS (runs every second). */
  sweep(): Promise<void> {
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    const returns: Promise<void>[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.window !== window) {
        if (!entry.refill) this.entries.delete(key);
      } else if (entry.local > 0 && !entry.refill && now - entry.lastTake >= IDLE_RETURN_MS) {
        returns.push(this.giveBack(key, entry));
      }
    }
    return Promise.all(returns).then(() => undefined);
  }
}
