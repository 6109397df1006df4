// `parley sandbox` as a real child process: it prints how to start Parley beside it, answers
// calls and prints one line each without the token, posts signed status webhooks, and stops
// with exit code 0 on SIGINT and SIGTERM.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cleanupProcesses, freePort, runParley, spawnParley, stopParley } from '../helpers/process.ts';
import { hmacSha256, Receiver, until } from '../helpers/receiver.ts';

const TOKEN = 'EAAG-cli-secret-token-4711';
const SECRET = 'cli-app-secret';

after(() => cleanupProcesses());

test('starts, prints the start line, answers a send, posts signed statuses, stops on SIGINT', async () => {
  const receiver = await Receiver.start();
  try {
    const port = await freePort();
    const proc = spawnParley(['sandbox', '--port', String(port), '--webhook-url', receiver.url('/webhooks/meta'), '--app-secret', SECRET, '--status-delay-ms', '0'], { PARLEY_META_APP_SECRET: '' });
    const banner = await proc.waitForStdout(/Recipients that fail on purpose:[\s\S]*\n\n/);
    assert.match(banner, new RegExp(`PARLEY_META_GRAPH_URL=http://127\\.0\\.0\\.1:${port} `));
    assert.match(banner, /155599990050 +refused at once/);
    const response = await fetch(`http://127.0.0.1:${port}/v23.0/106540352242922/messages?access_token=${TOKEN}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to: '15550102030', type: 'text', text: { body: 'hi' } }),
    });
    assert.equal(response.status, 200);
    const wamid = ((await response.json()) as any).messages[0].id;
    const out = await proc.waitForStdout(/POST \/v23\.0\/106540352242922\/messages\?access_token=\*\*\* → 200 to 15550102030 \(text\)/);
    assert.ok(!out.includes(TOKEN) && !proc.stderr().includes(TOKEN), 'the token is never printed');
    await until(async () => undefined, () => receiver.requests.length >= 3, 'three status webhooks');
    const statuses = receiver.requests.map((r) => Receiver.json(r).entry[0].changes[0].value.statuses[0]);
    assert.deepEqual(statuses.map((s: any) => [s.id, s.status]), [[wamid, 'sent'], [wamid, 'delivered'], [wamid, 'read']]);
    for (const r of receiver.requests) assert.equal(r.headers['x-hub-signature-256'], `sha256=${hmacSha256(SECRET, r.body).toString('hex')}`);
    const exit = await stopParley(proc, 'SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null }, proc.stderr());
    assert.match(proc.stdout(), /SIGINT: stopping/);
  } finally {
    await receiver.close();
  }
});

test('without an app secret it answers but sends no webhooks, and says so; SIGTERM stops it', async () => {
  const port = await freePort();
  const proc = spawnParley(['sandbox', '--port', String(port), '--quiet'], { PARLEY_META_APP_SECRET: '', PORT: '3999' });
  const banner = await proc.waitForStdout(/Recipients that fail on purpose:/);
  assert.match(banner, /no status webhooks are sent/);
  const answer = await fetch(`http://127.0.0.1:${port}/v23.0/106540352242922`, { headers: { authorization: 'Bearer x' } });
  assert.equal(answer.status, 200);
  const exit = await stopParley(proc, 'SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, proc.stderr());
  assert.doesNotMatch(proc.stdout(), /GET \/v23\.0/, '--quiet prints no calls');
});

test('the default webhook URL follows PORT; bad options exit 2 naming the problem; help lists the command', async () => {
  const port = await freePort();
  const proc = spawnParley(['sandbox', '--port', String(port)], { PARLEY_META_APP_SECRET: 'from-env', PORT: '3999' });
  const banner = await proc.waitForStdout(/Recipients that fail on purpose:/);
  assert.match(banner, /go to http:\/\/127\.0\.0\.1:3999\/webhooks\/meta, 300 ms apart/);
  assert.ok(!banner.includes('from-env'), 'the app secret is not printed');
  assert.equal((await stopParley(proc)).code, 0);

  for (const [args, message] of [[['--port', 'abc'], /--port must be a port number/], [['--status-delay-ms', '-1'], /--status-delay-ms|argument/], [['--webhook-url', 'ftp://x'], /--webhook-url must be an http/], [['--nope'], /Unknown option/]] as const) {
    const run = await runParley(['sandbox', ...args], {});
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  const help = await runParley(['help'], {});
  assert.match(help.stdout, /sandbox \[--port 4010\]/);
});
