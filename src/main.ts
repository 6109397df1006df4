// The `parley` command: serve | migrate | keys create|list|revoke | failures | simulate | sandbox. Thin commands over services.
// Machine-readable output (a new key) goes to stdout; logs go to stderr for every command but
// `serve`, so `KEY=$(parley keys create --project acme)` captures exactly the key.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase, prepareSchema } from './db/database.ts';
import { describeError } from './db/errors.ts';
import { createLogger, flushLogs } from './logging.ts';
import type { RunningServer } from './server.ts';
import { createKey, listKeys, MAX_KEY_NAME_LENGTH, revokeKey } from './projects/service.ts';
import { awaitOutcome, inboundTextBody, type SimulatedOutcome } from './meta-inbound/simulate.ts';
import { signBody } from './meta-inbound/signature.ts';
import { listFailures } from './failures/repo.ts';
import { failureSections, nothingFailed, parseSince } from './failures/report.ts';

const USAGE = `Usage: parley <command>

Commands:
  serve                              start the HTTP server (default)
  migrate                            apply database migrations and exit
  keys create --project NAME [--rate-limit N] [--name TEXT]
                                     create an API key (and the project when missing);
                                     prints only the key. N requests/minute, 0 = unlimited;
                                     TEXT says what the key is for (shown in the API log)
  keys list                          list keys: prefix, project, name, rate limit, state, dates
  keys revoke PREFIX                 revoke the key with this prefix (prl_XXXXXXXX or XXXXXXXX)
  failures [--limit N] [--since 24h|7d|30d|all]
                                     what background workers set aside with its error: dead
                                     outbox events, failed Meta bodies, jobs and deliveries,
                                     newest first, N (20) of each kind; default --since all
  simulate inbound --phone-number-id ID (--from NUMBER | --bsuid ID) --text TEXT
                   [--name NAME] [--url http://127.0.0.1:3000] [--wait SECONDS]
                                     sign a Meta-style inbound message with PARLEY_META_APP_SECRET,
                                     post it to a running server and report what it made of it
                                     (read from the server's database; --wait 0: do not wait)
  sandbox [--port 4010] [--host 127.0.0.1] [--webhook-url URL] [--app-secret SECRET]
          [--status-delay-ms 300] [--echo] [--quiet] [--no-webhooks]
                                     a stand-in for Meta's Graph API: start Parley with
                                     PARLEY_META_GRAPH_URL pointing at it; it answers sends, media
                                     and templates and posts signed status webhooks to URL
                                     (default http://127.0.0.1:$PORT/webhooks/meta, signed with
                                     PARLEY_META_APP_SECRET); prints each call, never a token

Configuration comes from the environment: PORT, HOST, DATABASE_URL, PARLEY_DATA_DIR, LOG_LEVEL,
LOG_FORMAT, PARLEY_SECRET_KEY, PARLEY_META_APP_SECRET, PARLEY_META_VERIFY_TOKEN … (see the README).`;

class UsageError extends Error {}

async function withDatabase<T>(config: Config, work: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
  const logger = createLogger(config, 'stderr');
  const database = await openDatabase(config, 'cli', logger, 2);
  try {
    await prepareSchema(database.db, logger, async () => undefined);
    return await work(database.db);
  } finally {
    await database.close();
  }
}

async function serve(config: Config): Promise<void> {
  const logger = createLogger(config, 'stdout');
  // Signals are handled from the first moment: one that arrives while the server is starting
  // stops it as soon as it has started, instead of killing the process half-way.
  let server: RunningServer | null = null;
  let stopRequested: string | null = null;
  let signals = 0;
  const stop = (running: RunningServer, signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      logger.warn('second signal: exiting without waiting');
      process.exit(1);
    }
    if (server) stop(server, signal);
    else stopRequested = signal;
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Loaded here, not at the top: the other commands need none of the server's modules.
  const { startServer } = await import('./server.ts');
  const running = await startServer(config, logger);
  server = running;
  if (running.firstKey) {
    process.stdout.write(
      `\nCreated project "default". Its API key is shown only this once:\n\n  ${running.firstKey}\n\n` +
        `Try it:  curl -H "X-API-Key: ${running.firstKey}" ${running.url}/platform/v1/whatsapp/contacts\n\n`,
    );
  } else if (running.noActiveKey) {
    // The command must reach this server's database: name the settings it runs with.
    const settings = config.databaseUrl !== null ? 'DATABASE_URL=… ' : process.env.PARLEY_DATA_DIR ? `PARLEY_DATA_DIR=${process.env.PARLEY_DATA_DIR} ` : '';
    process.stdout.write(`\nNo API key is active. Create one with:\n\n  ${settings}npx parley keys create --project default\n\n`);
  }
  running.onFatal((error) => {
    logger.fatal({ reason: error.message }, 'the server cannot go on without its database');
    const exit = () => {
      flushLogs();
      process.stderr.write(`parley: ${error.message}\n`);
      process.exit(1);
    };
    // Without a database a graceful close may wait on connections that never come.
    setTimeout(exit, 5_000).unref();
    running.close().catch(() => undefined).finally(exit);
  });
  if (stopRequested) stop(running, stopRequested);
}

/** Rows under a header, each column as wide as its widest cell, two spaces apart. */
function alignedTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

async function keys(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = parseArgs({ args: rest, options: { project: { type: 'string' }, 'rate-limit': { type: 'string' }, name: { type: 'string' } }, strict: true });
    if (!values.project || values.project.trim() === '') throw new UsageError('keys create needs --project NAME');
    const name = values.name?.trim() ?? null;
    if (name === '') throw new UsageError('--name must not be empty (leave it out for a key without a name)');
    if (name !== null && name.length > MAX_KEY_NAME_LENGTH) throw new UsageError(`--name must be at most ${MAX_KEY_NAME_LENGTH} characters`);
    // A line break or tab would break the table of keys list.
    if (name !== null && /[\u0000-\u001f\u007f]/.test(name)) throw new UsageError('--name must not hold control characters (line breaks, tabs)');
    let rateLimit: number | null = null;
    if (values['rate-limit'] !== undefined) {
      if (!/^\d+$/.test(values['rate-limit'])) throw new UsageError('--rate-limit must be a whole number (0 = unlimited)');
      rateLimit = Number(values['rate-limit']);
    }
    const { key } = await withDatabase(config, (db) => createKey(db, values.project!.trim(), { rateLimit, name }));
    process.stdout.write(`${key}\n`);
    return;
  }
  if (sub === 'list') {
    const rows = await withDatabase(config, (db) => listKeys(db));
    const lines = rows.map((row) => [
      `prl_${row.prefix}`,
      row.project,
      row.name ?? '-',
      row.rate_limit_per_minute === null ? 'default' : row.rate_limit_per_minute === 0 ? 'unlimited' : `${row.rate_limit_per_minute}/min`,
      row.revoked_at ? 'revoked' : 'active',
      String(row.created_at),
      row.revoked_at ? String(row.revoked_at) : '-',
    ]);
    process.stdout.write(alignedTable(['KEY PREFIX', 'PROJECT', 'NAME', 'RATE LIMIT', 'STATE', 'CREATED', 'REVOKED'], lines));
    if (rows.length === 0) process.stderr.write('no keys yet: create one with parley keys create --project NAME\n');
    return;
  }
  if (sub === 'revoke') {
    const prefix = (rest[0] ?? '').replace(/^prl_/, '').slice(0, 8);
    if (!/^[A-Za-z0-9]{8}$/.test(prefix) || rest.length !== 1) throw new UsageError('keys revoke needs the key prefix, e.g. prl_AbCd1234');
    const revoked = await withDatabase(config, (db) => revokeKey(db, prefix));
    if (!revoked) throw new Error(`no active key with prefix prl_${prefix}`);
    process.stderr.write(`revoked prl_${prefix}\n`);
    return;
  }
  throw new UsageError(`unknown keys command "${sub ?? ''}"`);
}

async function failures(config: Config, args: string[]): Promise<void> {
  let values: { limit?: string; since?: string };
  try {
    ({ values } = parseArgs({ args, options: { limit: { type: 'string' }, since: { type: 'string' } }, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError('--limit must be a whole number above 0');
  const since = parseSince(values.since ?? 'all');
  if (!since) throw new UsageError('--since must be a number of hours or days (24h, 7d, 30d) or all');
  const groups = await withDatabase(config, (db) => listFailures(db, { limit: Number(values.limit ?? 20), sinceSeconds: since.seconds }));
  if (groups.every((group) => group.count === 0)) {
    process.stdout.write(`${nothingFailed(since.label)}\n`);
    return;
  }
  const sections = failureSections(groups).map((section) => (section.rows.length === 0 ? `${section.heading}\n` : `${section.heading}\n${alignedTable(section.header, section.rows)}`));
  process.stdout.write(sections.join('\n'));
}

async function simulate(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'inbound') throw new UsageError(`unknown simulate command "${sub ?? ''}"`);
  const { values } = parseArgs({
    args: rest,
    options: { 'phone-number-id': { type: 'string' }, from: { type: 'string' }, bsuid: { type: 'string' }, text: { type: 'string' }, name: { type: 'string' }, url: { type: 'string' }, wait: { type: 'string' } },
    strict: true,
  });
  if (!values['phone-number-id']) throw new UsageError('simulate inbound needs --phone-number-id');
  if (!values.from && !values.bsuid) throw new UsageError('simulate inbound needs --from NUMBER or --bsuid ID');
  if (values.text === undefined) throw new UsageError('simulate inbound needs --text');
  // Meta sends the sender as its international number in digits: spaces, dashes and a + are fine here.
  if (values.from !== undefined && !/^\+?[\d\s().-]+$/.test(values.from)) throw new UsageError(`--from must be a phone number with its country code, e.g. "+1 555 010 2030" (got "${values.from}")`);
  const fromDigits = values.from?.replace(/\D/g, '');
  if (fromDigits !== undefined && (fromDigits.length < 7 || fromDigits.length > 15)) throw new UsageError(`--from must have 7 to 15 digits with its country code (got ${fromDigits.length})`);
  if (values.wait !== undefined && !/^\d+$/.test(values.wait)) throw new UsageError('--wait must be a whole number of seconds');
  const waitSeconds = values.wait === undefined ? 10 : Number(values.wait);
  const secret = config.metaAppSecrets[0];
  if (!secret) throw new Error('PARLEY_META_APP_SECRET must be set (the same value the server uses) to sign the message');
  const message = inboundTextBody({ phoneNumberId: values['phone-number-id'], from: fromDigits, bsuid: values.bsuid, name: values.name, text: values.text });
  const body = JSON.stringify(message);
  const base = values.url ?? `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  const response = await fetch(`${base}/webhooks/meta`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, secret) },
    body,
  }).catch((error: unknown) => {
    // fetch says only "fetch failed"; the reason (refused, unknown host) is its cause.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`could not reach a Parley server at ${base}: ${cause?.code ?? cause?.message ?? describeError(error)}; start one, or pass --url (or set PORT/HOST as the server has them)`);
  });
  const answer = await response.text();
  if (!response.ok) throw new Error(`the server answered ${response.status}: ${answer}`);
  if (waitSeconds === 0) {
    process.stderr.write(`stored by the server (${response.status}); not waiting for the outcome\n`);
    return;
  }
  // The answer only says the body was stored; what the server made of it is in its database.
  const outcome = await withDatabase(config, (db) => awaitOutcome(db, body, waitSeconds * 1000));
  const wamid = message.entry?.[0]?.changes?.[0]?.value?.messages?.[0]?.id ?? 'the message';
  process.stderr.write(`${describeOutcome(outcome, wamid, waitSeconds)}\n`);
  if (outcome.state !== 'processed') process.exitCode = 1;
}

function describeOutcome(outcome: SimulatedOutcome, wamid: string, waitSeconds: number): string {
  switch (outcome.state) {
    case 'processed':
      return `processed: ${wamid} is stored (GET /platform/v1/whatsapp/messages/${wamid})`;
    case 'skipped':
      return `skipped by the server: ${outcome.note ?? 'nothing in it was handled'}`;
    case 'failed':
      return `failed: the server could not process it: ${outcome.note ?? 'no error recorded'}`;
    case 'pending':
      return outcome.attempts > 0
        ? `failing: still pending after ${outcome.attempts} attempt(s); last error: ${outcome.note ?? 'none recorded'}`
        : `stored, but not processed within ${waitSeconds} s: is the server's inbound worker running? (--wait SECONDS waits longer)`;
    case 'missing':
      return "stored by the server, but this command's database holds no such event: set PARLEY_DATA_DIR or DATABASE_URL to the server's (or pass --wait 0)";
  }
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...args] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  // The sandbox stands in for Meta: it needs neither Parley's configuration nor its database.
  if (command === 'sandbox') {
    const { parseSandboxArgs, runSandbox, SandboxArgsError } = await import('./sandbox/cli.ts');
    try {
      return await runSandbox(parseSandboxArgs(args, process.env));
    } catch (error) {
      if (error instanceof SandboxArgsError) throw new UsageError(error.message);
      throw error;
    }
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate':
      await withDatabase(config, async () => undefined);
      process.stderr.write('database is up to date\n');
      return;
    case 'keys':
      return keys(config, args);
    case 'simulate':
      return simulate(config, args);
    case 'failures':
      return failures(config, args);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`parley: ${error.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  const message = error instanceof ConfigError ? `invalid configuration: ${error.message}` : describeError(error);
  flushLogs();
  process.stderr.write(`parley: ${message}\n`);
  process.exit(1);
});
