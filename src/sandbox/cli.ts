// `parley sandbox`: the stand-in Graph API as a program beside a development server. It prints
// how to point Parley at it, then one line per call it answers (tokens never shown), and stops
// cleanly on SIGINT or SIGTERM.
import { parseArgs } from 'node:util';
import { startStandInGraph, type RecordedRequest } from './graph-server.ts';
import { SANDBOX_TRIGGERS } from './triggers.ts';

export interface SandboxSettings {
  host: string;
  port: number;
  webhookUrl: string;
  appSecret: string | null;
  statusDelayMs: number;
  echo: boolean;
  quiet: boolean;
}

/** Thrown for bad command-line input; the caller prints it with the usage. */
export class SandboxArgsError extends Error {}

export function parseSandboxArgs(args: string[], env: NodeJS.ProcessEnv): SandboxSettings {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: { port: { type: 'string' }, host: { type: 'string' }, 'webhook-url': { type: 'string' }, 'app-secret': { type: 'string' }, 'status-delay-ms': { type: 'string' }, echo: { type: 'boolean' }, quiet: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    throw new SandboxArgsError((error as Error).message);
  }
  const port = values.port === undefined ? 4010 : Number(values.port);
  if (!/^\d+$/.test(String(values.port ?? '4010')) || port > 65535) throw new SandboxArgsError('--port must be a port number (0 to 65535)');
  const delay = values['status-delay-ms'] === undefined ? 300 : Number(values['status-delay-ms']);
  if (!/^\d+$/.test(String(values['status-delay-ms'] ?? '300'))) throw new SandboxArgsError('--status-delay-ms must be a whole number of milliseconds (0: at once)');
  const webhookUrl = (values['webhook-url'] as string | undefined) ?? `http://127.0.0.1:${env.PORT || 3000}/webhooks/meta`;
  try {
    const parsed = new URL(webhookUrl);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new SandboxArgsError(`--webhook-url must be an http(s) URL (got "${webhookUrl}")`);
  }
  // PARLEY_META_APP_SECRET may list several secrets (rotation); Meta signs with one of them.
  const fromEnv = (env.PARLEY_META_APP_SECRET ?? '').split(',').map((s) => s.trim()).find(Boolean) ?? null;
  const appSecret = (values['app-secret'] as string | undefined) ?? fromEnv;
  if (appSecret !== null && appSecret.trim() === '') throw new SandboxArgsError('--app-secret must not be empty');
  return { host: (values.host as string | undefined) ?? '127.0.0.1', port, webhookUrl, appSecret, statusDelayMs: delay, echo: values.echo === true, quiet: values.quiet === true };
}

const time = () => new Date().toISOString().slice(11, 23);

/** One line for a call: never the token, neither from the header nor from the query. */
export function describeCall(call: RecordedRequest): string {
  const query = Object.entries(call.query)
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${key}=${key === 'access_token' ? '***' : v}`))
    .join('&');
  let note = '';
  const body = call.body as Record<string, unknown> | undefined;
  if (body && typeof body === 'object' && call.path.endsWith('/messages')) {
    const to = body.to ?? body.recipient;
    note = body.status === 'read' ? ' (mark read)' : to ? ` to ${String(to)} (${String(body.type ?? 'text')})` : '';
  } else if (body && typeof body === 'object' && (body as { multipart?: boolean }).multipart) {
    note = ` (${(body as { bytes: number }).bytes} bytes)`;
  }
  return `${time()} ${call.method} ${call.path}${query ? `?${query}` : ''} → ${call.status ?? 'cut off'}${note}`;
}

export async function runSandbox(settings: SandboxSettings, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const write = (line: string) => out.write(`${line}\n`);
  const graph = await startStandInGraph({
    host: settings.host,
    port: settings.port,
    statusDelayMs: settings.statusDelayMs,
    echo: settings.echo,
    ...(settings.appSecret ? { webhook: { url: settings.webhookUrl, appSecret: settings.appSecret } } : {}),
    keepRequests: 1000,
    log: (line) => write(`${time()} ${line}`),
    onRequest: settings.quiet ? undefined : (call) => write(describeCall(call)),
  });
  write(`Stand-in Graph API listening on ${graph.url} (any version v<major>.<minor>, any Bearer token)`);
  write('');
  write('Start Parley beside it with:');
  write('');
  write(`  PARLEY_META_GRAPH_URL=${graph.url} PARLEY_META_APP_SECRET=<the same secret> npm start`);
  write('');
  if (settings.appSecret) {
    write(`Status webhooks (sent, delivered, read${settings.echo ? ', then an echo reply' : ''}) go to ${settings.webhookUrl}, ${settings.statusDelayMs} ms apart, signed with the app secret.`);
  } else {
    write('No app secret (--app-secret or PARLEY_META_APP_SECRET): sends are answered, but no status webhooks are sent.');
  }
  write('Recipients that fail on purpose:');
  for (const trigger of Object.values(SANDBOX_TRIGGERS)) write(`  ${trigger.example.padEnd(14)} ${trigger.summary}`);
  write('');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    write(`${time()} ${signal}: stopping`);
    graph.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`parley: the sandbox did not stop cleanly: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
