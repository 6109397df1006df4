// The server process: database, schema, background work and the HTTP listener, started in
// that order and stopped in reverse (in-flight requests finish before the database goes).
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApiLogRecorder } from './api-logs/recorder.ts';
import { purgeOldApiLogs } from './api-logs/repo.ts';
import { buildApp } from './app.ts';
import { GraphClient } from './meta-graph/client.ts';
import type { Config } from './config.ts';
import { ensureDataDir } from './db/data-dir.ts';
import { openDatabase, prepareSchema } from './db/database.ts';
import type { EmbeddedDatabase } from './db/embedded.ts';
import type { DatabaseHealth } from './db/health.ts';
import { withSchemaLock } from './db/migrate.ts';
import { startListener } from './db/listener.ts';
import { NUMBERS_CHANGED_CHANNEL } from './phone-numbers/number-cache.ts';
import { proxyNumbers } from './phone-numbers/repo.ts';
import { throttledNotify } from './db/throttled-notify.ts';
import { purgeExpiredIdempotencyKeys } from './http/idempotency.ts';
import { purgeOldRateLimitWindows } from './http/rate-limit-repo.ts';
import { jobRegistry } from './jobs/registry.ts';
import { JOBS_CHANNEL } from './jobs/repo.ts';
import { JobRunner } from './jobs/runner.ts';
import { RepeatedErrors } from './jobs/repeated-errors.ts';
import { endIdleConversations } from './conversations/ingest-repo.ts';
import { applyLateParkedStatuses } from './messages/ingest-repo.ts';
import { mediaJobRegistry } from './media/fetch-job.ts';
import { META_EVENTS_CHANNEL, purgeHandledEvents } from './meta-inbound/events-repo.ts';
import { MetaEventWorker } from './meta-inbound/worker.ts';
import { checkSecretKey, loadOrCreateSecretKey, TokenCipher } from './phone-numbers/token-cipher.ts';
import { DeliveryWorker } from './webhooks/delivery-worker.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';
import { OutboxSignal } from './webhooks/outbox-signal.ts';
import { purgeDispatchedEvents, queueInactivityEvents, WEBHOOK_DELIVERIES_CHANNEL, WEBHOOK_EVENTS_CHANNEL, WEBHOOKS_CHANGED } from './webhooks/outbox-repo.ts';
import { bootstrapDefaultProject, hasActiveKey, KeyAuthenticator, KEY_REVOKED_CHANNEL } from './projects/service.ts';
import { purgeOldDeliveries } from './webhook-deliveries/repo.ts';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** The key of the default project when this start created it, else null. */
  firstKey: string | null;
  /** True when no key can be used (none was made, or all were revoked): say how to make one. */
  noActiveKey: boolean;
  /** Whether the database answers: `health.state` is 'up' | 'down', with a 'state' event on each change. */
  health: DatabaseHealth;
  /** The embedded PostgreSQL (`embedded.state`: 'up' | 'down' | 'failed' | 'stopped'), null on DATABASE_URL. */
  embedded: EmbeddedDatabase | null;
  /** Called once when the server cannot go on (the embedded PostgreSQL died and could not be restarted). */
  onFatal(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

const HOUR = 60 * 60 * 1000;
const MINUTE = 60 * 1000;
/** Inbound bodies per worker transaction (measured in bench/RESULTS.md). */
const INBOUND_BATCH = 200;

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  // The embedded database checks its data dir itself; the secret key may need one too.
  if (config.databaseUrl !== null && config.secretKey === null) ensureDataDir(config.dataDir);
  const database = await openDatabase(config, 'server', logger, config.dbPoolMax, { restartGiveUpMs: config.embeddedRestartSeconds * 1000 });
  try {
    const { db } = database;
    await prepareSchema(db, logger, async () => undefined);
    const secret = loadOrCreateSecretKey(config.secretKey, config.dataDir);
    if (secret.generated) {
      logger.warn({ file: `${config.dataDir}/secret.key` }, 'generated a secret key for access tokens; back it up, and set PARLEY_SECRET_KEY on every node that shares this database');
    }
    const cipher = new TokenCipher(secret.key);
    await checkSecretKey(db, cipher);
    const authenticator = new KeyAuthenticator(db);
    const graph = new GraphClient({ baseUrl: config.metaGraphUrl, timeoutMs: config.metaTimeoutMs, cipher, logger });
    // Writes wake the webhook dispatchers after their commit, never by a NOTIFY inside them
    // (src/webhooks/outbox-signal.ts); the dispatcher is made below, the signal only calls it.
    let dispatcher: WebhookDispatcher | null = null;
    const outbox = new OutboxSignal(db, logger, { wakeLocal: () => dispatcher?.wake(), activePollMs: 100 });
    await outbox.refresh();
    const written = () => outbox.written();
    const runner = new JobRunner(db, jobRegistry(db), logger, { pollMs: config.jobPollMs, onJobDone: written });
    // Inbound media downloads run on a runner of their own: a 100 MB fetch never delays erasures.
    const mediaRunner = new JobRunner(db, mediaJobRegistry({ db, graph, logger }), logger, { pollMs: config.jobPollMs, batchSize: 2, onJobDone: written });
    // Several loops share the queue by sender lanes (src/meta-inbound/sender-lane.ts).
    const inboundLoops = Array.from(
      { length: config.inboundLoops },
      (_, index) => new MetaEventWorker(db, logger, { pollMs: config.jobPollMs, batchSize: INBOUND_BATCH, loop: { index, of: config.inboundLoops }, onProcessed: written }),
    );
    const inbound = {
      wake: () => inboundLoops.forEach((loop) => loop.wake()),
      start: () => inboundLoops.forEach((loop) => loop.start()),
      stop: async () => void (await Promise.all(inboundLoops.map((loop) => loop.stop()))),
    };
    // A stored body wakes this node's worker directly, and the others by a NOTIFY at most
    // every 100 ms (this node hears it too; a spare wake-up costs one empty batch).
    const notifyInbound = throttledNotify(db, META_EVENTS_CHANNEL, 100, logger);
    const onMetaEventStored = () => {
      inbound.wake();
      notifyInbound.signal();
    };
    const deliveries = new DeliveryWorker(db, logger, { pollMs: config.jobPollMs, retrySeconds: config.webhookRetrySeconds, allowPrivate: config.allowPrivateWebhooks });
    // New deliveries wake this node's worker at once and the others' at most every 100 ms.
    const notifyDeliveries = throttledNotify(db, WEBHOOK_DELIVERIES_CHANNEL, 100, logger);
    const webhookDispatcher = new WebhookDispatcher(db, logger, {
      pollMs: config.jobPollMs,
      onQueued: () => {
        deliveries.wake();
        notifyDeliveries.signal();
      },
      // Each pass looks again whether any webhook is active, so that a node stops (or starts)
      // waking dispatchers within one poll of the last webhook going (or the first coming).
      onPass: () => void outbox.refresh(),
    });
    dispatcher = webhookDispatcher;
    const listener = await startListener(
      database.url,
      {
        channels: {
          [KEY_REVOKED_CHANNEL]: (prefix) => authenticator.forget(prefix),
          [JOBS_CHANNEL]: () => {
            runner.wake();
            mediaRunner.wake();
          },
          [META_EVENTS_CHANNEL]: () => inbound.wake(),
          [WEBHOOK_EVENTS_CHANNEL]: (payload) => {
            if (payload === WEBHOOKS_CHANGED) void outbox.refresh();
            webhookDispatcher.wake();
          },
          [WEBHOOK_DELIVERIES_CHANNEL]: () => deliveries.wake(),
          [NUMBERS_CHANGED_CHANNEL]: (projectId) => proxyNumbers.forgetProject(projectId),
        },
        onReset: () => {
          authenticator.forgetAll();
          proxyNumbers.forgetAll();
          runner.wake();
          mediaRunner.wake();
          inbound.wake();
          void outbox.refresh();
          webhookDispatcher.wake();
          deliveries.wake();
        },
      },
      logger,
      (error) => database.health.report(error),
    );
    const embedded = database.embedded;
    // Flushed after the last request has been answered (close below), before the database goes.
    const apiLog = new ApiLogRecorder(db, logger);
    const app = await buildApp({
      db, pool: database.pool, config, logger, authenticator, cipher, graph, onMetaEventStored, apiLog, outbox,
      ...(embedded ? { embeddedUp: () => embedded.state === 'up' } : {}),
    });
    let firstKey: string | null;
    let noActiveKey: boolean;
    try {
      await app.listen({ port: config.port, host: config.host });
      // Only now: a key made by a start that then failed (the port taken) would never be shown.
      firstKey = await withSchemaLock(db, (locked) => bootstrapDefaultProject(locked));
      noActiveKey = firstKey === null && !(await hasActiveKey(db));
    } catch (error) {
      // e.g. the port is taken: close what already runs before the database goes.
      notifyInbound.stop();
      outbox.stop();
      notifyDeliveries.stop();
      await app.close().catch(() => undefined);
      await apiLog.close();
      await listener.close();
      throw listenError(error, config);
    }
    runner.start();
    mediaRunner.start();
    inbound.start();
    webhookDispatcher.start();
    outbox.start();
    deliveries.start();
    // Inactivity events, once per webhook, conversation and quiet period; safe on every node.
    // The sweeps below run every 30 s or minute: a failure that persists is logged once, then counted.
    const inactivityErrors = new RepeatedErrors(logger, 'inactivity sweep');
    const conversationErrors = new RepeatedErrors(logger, 'conversation sweep');
    const parkedErrors = new RepeatedErrors(logger, 'parked status sweep');
    const rateLimitErrors = new RepeatedErrors(logger, 'rate limit window purge');
    const inactivity = setInterval(() => {
      queueInactivityEvents(db).then(
        (queued) => {
          inactivityErrors.succeeded();
          if (queued > 0) written();
        },
        (error: unknown) => inactivityErrors.failed(error),
      );
    }, 30_000);
    inactivity.unref();
    const maintenance = setInterval(() => {
      purgeExpiredIdempotencyKeys(db).catch((error: unknown) => logger.warn({ err: error }, 'idempotency purge failed'));
      purgeDispatchedEvents(db).catch((error: unknown) => logger.warn({ err: error }, 'outbox purge failed'));
      purgeHandledEvents(db).catch((error: unknown) => logger.warn({ err: error }, 'Meta event purge failed'));
    }, HOUR);
    maintenance.unref();
    // Deliveries are kept 30 days; every node may purge, the DELETE is idempotent.
    const deliveryPurge = setInterval(() => {
      purgeOldDeliveries(db, new Date()).then(
        (deleted) => deleted > 0 && logger.info({ deleted }, 'purged old webhook deliveries'),
        (error: unknown) => logger.warn({ err: error }, 'webhook delivery purge failed'),
      );
    }, HOUR);
    deliveryPurge.unref();
    // API log rows are kept 30 days; the purge deletes in chunks, and every node may run it.
    const apiLogPurge = setInterval(() => {
      purgeOldApiLogs(db, new Date()).then(
        (deleted) => deleted > 0 && logger.info({ deleted }, 'purged old API log rows'),
        (error: unknown) => logger.warn({ err: error }, 'API log purge failed'),
      );
    }, HOUR);
    apiLogPurge.unref();
    // Idle conversations end after 24 hours; every node may sweep, the UPDATE is idempotent.
    const sweep = setInterval(() => {
      endIdleConversations(db, new Date()).then(
        (ended) => {
          conversationErrors.succeeded();
          if (ended > 0) written();
          if (ended > 0) logger.info({ ended }, 'ended idle conversations');
        },
        (error: unknown) => conversationErrors.failed(error),
      );
      // A status can be parked by one node while another is storing its message.
      applyLateParkedStatuses(db).then(
        (applied) => {
          parkedErrors.succeeded();
          if (applied > 0) written();
          if (applied > 0) logger.info({ applied }, 'applied statuses that arrived while their message was being stored');
        },
        (error: unknown) => parkedErrors.failed(error),
      );
      // Rate limit rows of ended minutes are worth nothing; every node may purge.
      purgeOldRateLimitWindows(db, new Date()).then(
        () => rateLimitErrors.succeeded(),
        (error: unknown) => rateLimitErrors.failed(error),
      );
    }, MINUTE);
    sweep.unref();
    const address = app.server.address();
    // A wildcard address is no place to send a request to: name this machine's loopback instead.
    const reachable = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = typeof address === 'object' && address ? `http://${reachable}:${address.port}` : `http://${reachable}:${config.port}`;
    if (!isLoopback(config.host) && config.metricsToken === null) {
      logger.warn({ host: config.host }, 'GET /metrics is open to anyone who reaches this address; set PARLEY_METRICS_TOKEN');
    }
    logger.info({ url, database: config.databaseUrl === null ? 'embedded' : 'external', ...(firstKey ? { createdKey: true } : {}) }, 'Parley is listening');

    let closing: Promise<void> | null = null;
    return {
      app,
      url,
      firstKey,
      noActiveKey,
      health: database.health,
      embedded: database.embedded,
      onFatal(listener) {
        const supervisor = database.embedded?.supervisor;
        if (supervisor?.failure) listener(supervisor.failure); // it gave up before anyone listened
        else supervisor?.once('failed', listener);
      },
      close() {
        closing ??= (async () => {
          clearInterval(maintenance);
          clearInterval(deliveryPurge);
          clearInterval(apiLogPurge);
          clearInterval(sweep);
          clearInterval(inactivity);
          await app.close();
          // Every request has been answered: write the rows still buffered.
          await apiLog.close();
          notifyInbound.stop();
          await runner.stop();
          await mediaRunner.stop();
          await inbound.stop();
          await webhookDispatcher.stop();
          outbox.stop();
          await deliveries.stop();
          notifyDeliveries.stop();
          await listener.close();
          await graph.close();
          await database.close();
          logger.info('Parley stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/** A listen error that says which setting to change. */
function listenError(error: unknown, config: Config): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') return new Error(`port ${config.port} on ${config.host} is already in use; stop what uses it or set PORT to a free port`, { cause: error });
  if (code === 'EACCES') return new Error(`not allowed to listen on ${where} (ports below 1024 need privileges); set PORT to 1024 or above`, { cause: error });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new Error(`cannot listen on ${where}: HOST ${config.host} is not an address of this machine; change HOST`, { cause: error });
  return error;
}

/** Whether only this machine can reach the listener. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
