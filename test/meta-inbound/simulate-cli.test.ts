// `parley simulate inbound` as a user runs it, against a real `parley serve` on the embedded
// database: the command reports what the server made of the message — processed, or skipped
// with the reason (an unknown number, inbound processing off) — never a bare "delivered".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cleanupProcesses, freePort, makeDataDir, request, runParley, type ServerProcess, startParley, stopParley } from '../helpers/process.ts';

const SECRET = 'simulate-secret';
let env: Record<string, string>;
let server: ServerProcess;

before(async () => {
  env = { PARLEY_DATA_DIR: makeDataDir(), PARLEY_META_APP_SECRET: SECRET, PORT: String(await freePort()) };
  server = await startParley(env);
  assert.ok(server.firstKey, 'the first start prints a key');
});
after(async () => {
  if (server) await stopParley(server);
  await cleanupProcesses();
});

function simulate(phoneNumberId: string, extra: string[] = []) {
  return runParley(['simulate', 'inbound', '--phone-number-id', phoneNumberId, '--from', '+1 555 074 0001', '--text', 'hello', '--url', server.url, ...extra], env);
}

async function connect(phoneNumberId: string, inbound: boolean): Promise<void> {
  const key = server.firstKey!;
  const customer = await request(`${server.url}/platform/v1/customers`, { method: 'POST', key, body: { customer: { name: `Sim ${phoneNumberId}` } } });
  assert.equal(customer.status, 201, JSON.stringify(customer.body));
  const number = await request(`${server.url}/platform/v1/customers/${customer.body.data.id}/whatsapp/phone_numbers`, {
    method: 'POST',
    key,
    body: { whatsapp_phone_number: { name: 'Sim line', phone_number_id: phoneNumberId, business_account_id: '102290129340398', access_token: 'EAAG-sim', inbound_processing_enabled: inbound } },
  });
  assert.equal(number.status, 201, JSON.stringify(number.body));
}

test('an unknown phone number id: reported as skipped with the reason, exit 1, never "delivered"', async () => {
  const result = await simulate('900000000001');
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^skipped by the server: phone_number_id 900000000001 is not connected$/m);
  assert.doesNotMatch(result.stderr, /delivered/);
});

test('a connected number: reported as processed, naming the stored message', async () => {
  await connect('900000000002', true);
  const result = await simulate('900000000002');
  assert.equal(result.code, 0, result.stderr);
  const match = /^processed: (wamid\.\S+) is stored/m.exec(result.stderr);
  assert.ok(match, result.stderr);
  const message = await request(`${server.url}/platform/v1/whatsapp/messages/${match[1]}`, { key: server.firstKey! });
  assert.equal(message.status, 200, 'the message the command names exists');
});

test('a number with inbound processing off: skipped, with that reason', async () => {
  await connect('900000000003', false);
  const result = await simulate('900000000003');
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^skipped by the server: inbound processing is off for 900000000003$/m);
});

test('--wait 0 reports only that the server stored it', async () => {
  const result = await simulate('900000000001', ['--wait', '0']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /^stored by the server \(200\); not waiting for the outcome$/m);
});

test('a sender that is no phone number is refused before anything is posted; an unreachable server is named', async () => {
  const letters = await runParley(['simulate', 'inbound', '--phone-number-id', '900000000009', '--from', 'abc', '--text', 'hi', '--url', server.url], env);
  assert.equal(letters.code, 2, letters.stderr);
  assert.match(letters.stderr, /^parley: --from must be a phone number with its country code/m);
  const closed = await freePort(); // nothing listens there
  const unreachable = await runParley(['simulate', 'inbound', '--phone-number-id', '900000000009', '--from', '+1 555 074 0009', '--text', 'hi', '--url', `http://127.0.0.1:${closed}`], env);
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, new RegExp(`^parley: could not reach a Parley server at http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED; `, 'm'));
});
