// The Prometheus metrics of one server: HTTP requests, the database pool, queues, the embedded
// database and the process. One Registry per app (not prom-client's global one), so that several
// apps in one process (tests) never collide on metric names.
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../db/schema.ts';
import { COUNT_CAP, FAILED_WINDOW_HOURS, readQueues } from './queues.ts';

export interface MetricsOptions {
  db: Kysely<Database>;
  pool: pg.Pool;
  /** Whether the embedded PostgreSQL runs; absent when the server uses DATABASE_URL (no gauge then). */
  embeddedUp?: () => boolean;
  /** How long a scrape waits for the queue queries. */
  queueTimeoutMs?: number;
  /** API log rows dropped since start (the buffer was full while the database refused writes). */
  droppedApiLogRows?: () => number;
}

/** Route label of requests that matched no route, so that random URLs cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route' | 'status'>;
  private readonly queueDepth: Gauge<'queue' | 'state'>;
  private readonly queueAge: Gauge<'queue' | 'state'>;
  private readonly databaseUp: Gauge;
  private readonly options: MetricsOptions;
  /** The labelled children of the request counter and histogram, by method, status and route. */
  private readonly series = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();

  constructor(options: MetricsOptions) {
    this.options = options;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'parley_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const { pool } = options;
    new Gauge({ name: 'parley_db_pool_connections', help: 'Connections the database pool holds open', registers, collect() { this.set(pool.totalCount); } });
    new Gauge({ name: 'parley_db_pool_idle_connections', help: 'Open pool connections not in use', registers, collect() { this.set(pool.idleCount); } });
    new Gauge({ name: 'parley_db_pool_in_use_connections', help: 'Pool connections checked out by a query or transaction now', registers, collect() { this.set(pool.totalCount - pool.idleCount); } });
    new Gauge({ name: 'parley_db_pool_waiting_clients', help: 'Queries waiting for a pool connection', registers, collect() { this.set(pool.waitingCount); } });
    this.queueDepth = new Gauge({
      name: 'parley_queue_items',
      help:
        `Items in a background queue (inbound_events, outbox_events, webhook_deliveries, jobs) by state; counts stop at ${COUNT_CAP}; ` +
        `failed webhook_deliveries are those created in the last ${FAILED_WINDOW_HOURS} hours`,
      labelNames: ['queue', 'state'],
      registers,
    });
    this.queueAge = new Gauge({
      name: 'parley_queue_oldest_age_seconds',
      help: 'Seconds the oldest pending item of a queue has waited (deliveries and jobs: since it became due); 0 when none waits',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.databaseUp = new Gauge({ name: 'parley_database_up', help: '1 when the database answered the queue queries of this scrape, else 0', registers });
    const droppedApiLogRows = options.droppedApiLogRows;
    if (droppedApiLogRows) {
      let reported = 0;
      new Counter({
        name: 'parley_api_log_dropped_rows_total',
        help: 'API log rows dropped instead of written: the buffer was full while the database refused writes, or the table refused the row',
        registers,
        collect() {
          const dropped = droppedApiLogRows();
          if (dropped > reported) this.inc(dropped - reported);
          reported = dropped;
        },
      });
    }
    const embeddedUp = options.embeddedUp;
    if (embeddedUp) {
      new Gauge({ name: 'parley_embedded_database_up', help: '1 while the embedded PostgreSQL runs, else 0', registers, collect() { this.set(embeddedUp() ? 1 : 0); } });
    }
  }

  /** Records one answered request; `route` is the route template, never the raw URL. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void {
    const routeLabel = route ?? UNMATCHED_ROUTE;
    const key = `${method} ${status} ${routeLabel}`;
    let series = this.series.get(key);
    if (series === undefined) {
      // prom-client hashes the label object on every call otherwise; route templates keep the set small.
      const labels = { method, route: routeLabel, status: String(status) };
      series = { count: this.requests.labels(labels), time: this.duration.labels(labels) };
      this.series.set(key, series);
    }
    series.count.inc();
    series.time.observe(seconds);
  }

  /** The exposition text; the queue gauges are read from the database first. */
  async render(): Promise<string> {
    try {
      const samples = await readQueues(this.options.db, this.options.queueTimeoutMs ?? 1000);
      this.queueDepth.reset();
      this.queueAge.reset();
      for (const sample of samples) {
        this.queueDepth.set({ queue: sample.queue, state: sample.state }, sample.count);
        if (sample.state === 'pending') this.queueAge.set({ queue: sample.queue, state: sample.state }, sample.oldestAgeSeconds ?? 0);
      }
      this.databaseUp.set(1);
    } catch {
      // Stale queue numbers would look healthy: drop them and say the database did not answer.
      this.queueDepth.reset();
      this.queueAge.reset();
      this.databaseUp.set(0);
    }
    return this.registry.metrics();
  }
}
