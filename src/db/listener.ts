// One dedicated connection per node for LISTEN/NOTIFY: key revocations and job wake-ups.
// On a lost connection it reconnects, and tells its subscribers that they may have missed
// notifications (`onReset`), so that they can stop trusting what they cached.
import pg from 'pg';
import type { Logger } from 'pino';
import { RepeatedErrors } from '../jobs/repeated-errors.ts';

export interface Subscriptions {
  channels: Record<string, (payload: string) => void>;
  onReset: () => void;
}

export interface Listener {
  close(): Promise<void>;
}

export async function startListener(url: string, subscriptions: Subscriptions, logger: Logger): Promise<Listener> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  // While the database is away, reconnects fail every second: say so once, then count.
  const reconnects = new RepeatedErrors(logger, 'notification listener reconnect');

  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(
        () => reconnects.succeeded(),
        (error: unknown) => {
          reconnects.failed(error);
          schedule();
        },
      );
    }, 1_000);
    retry.unref();
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, application_name: 'parley-listener' });
    next.on('notification', (message) => subscriptions.channels[message.channel]?.(message.payload ?? ''));
    next.on('error', (error) => {
      if (closed) return;
      logger.warn({ err: error }, 'notification listener lost its connection; reconnecting');
      subscriptions.onReset();
      void next.end().catch(() => undefined);
      if (client === next) client = null;
      schedule();
    });
    await next.connect();
    for (const channel of Object.keys(subscriptions.channels)) await next.query(`LISTEN ${channel}`);
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
