// One dedicated connection per node for LISTEN/NOTIFY: key revocations and job wake-ups.
// On a lost connection it reconnects, and tells its subscribers that they may have missed
// notifications (`onReset`), so that they can stop trusting what they cached.
import pg from 'pg';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from './errors.ts';

export interface Subscriptions {
  channels: Record<string, (payload: string) => void>;
  onReset: () => void;
}

export interface Listener {
  close(): Promise<void>;
}

export async function startListener(url: string, subscriptions: Subscriptions, logger: Logger, onConnectionError: (error: Error) => void = () => undefined): Promise<Listener> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  /** Failed reconnects in a row: the first is logged, the rest wait quietly for the database. */
  let failures = 0;

  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(
        () => {
          if (failures > 0) logger.debug({ attempts: failures + 1 }, 'notification listener reconnected');
          failures = 0;
        },
        (error: unknown) => {
          if (failures === 0) logger[isDatabaseUnavailable(error) ? 'debug' : 'warn']({ reason: (error as Error).message }, 'notification listener could not reconnect; retrying every second');
          failures += 1;
          schedule();
        },
      );
    }, 1_000);
    retry.unref();
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, application_name: 'parley-listener' });
    next.on('notification', (message) => subscriptions.channels[message.channel]?.(message.payload ?? ''));
    let connected = false;
    next.on('error', (error) => {
      if (closed) return;
      onConnectionError(error);
      if (!connected) return; // connect() or LISTEN fails with it, and schedules the retry
      connected = false;
      // A database outage is logged once by the health check (or the embedded supervisor).
      logger[isDatabaseUnavailable(error) ? 'debug' : 'warn']({ reason: error.message }, 'notification listener lost its connection; reconnecting');
      subscriptions.onReset();
      void next.end().catch(() => undefined);
      if (client === next) client = null;
      schedule();
    });
    try {
      await next.connect();
      for (const channel of Object.keys(subscriptions.channels)) await next.query(`LISTEN ${channel}`);
    } catch (error) {
      void next.end().catch(() => undefined);
      throw error;
    }
    connected = true;
    // Whatever was sent while we were not listening is lost: start from a clean slate.
    subscriptions.onReset();
    client = next;
  };

  await connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
