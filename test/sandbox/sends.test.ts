// Sends against the stand-in: Meta's answer shapes, its refusals of bad bodies and tokens, and
// the documented trigger recipients.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStandInGraph, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { SANDBOX_TRIGGERS, triggerFor, triggerRecipient } from '../../src/sandbox/triggers.ts';
import { call, metaError, PNID, sendText, TOKEN } from './graph.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';

const kapso = kapsoProxyChecksAlongside('the stand-in\'s send answers');
let graph: StandInGraph;

before(async () => {
  graph = await startStandInGraph({ tokens: { [PNID]: TOKEN } });
});
after(() => graph.close());

test('a text send answers Meta\'s shape with a fresh wamid, as JSON', async () => {
  const first = await sendText(graph, '+1 (555) 010-2030');
  assert.equal(first.status, 200, first.text);
  assert.match(first.headers.get('content-type')!, /^application\/json/);
  assert.deepEqual(first.body.contacts, [{ input: '+1 (555) 010-2030', wa_id: '15550102030' }]);
  assert.equal(first.body.messaging_product, 'whatsapp');
  assert.match(first.body.messages[0].id, /^wamid\.[A-Za-z0-9=]+$/);
  assert.equal(first.body.messages[0].message_status, undefined);
  kapso.assertResponse('sendMessage', 200, first.body);
  const second = await sendText(graph, '15550102030');
  assert.notEqual(second.body.messages[0].id, first.body.messages[0].id);
  assert.ok(graph.sent.has(first.body.messages[0].id), 'the stand-in remembers what it accepted');
});

test('a BSUID recipient is answered with user_id; a template adds message_status accepted', async () => {
  const bsuid = await call(graph, 'POST', `/v24.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', recipient: 'US.13491208655302741918', type: 'text', text: { body: 'hi' } } });
  assert.equal(bsuid.status, 200, bsuid.text);
  assert.deepEqual(bsuid.body.contacts, [{ input: 'US.13491208655302741918', user_id: 'US.13491208655302741918' }]);
  kapso.assertResponse('sendMessage', 200, bsuid.body);
  const template = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', to: '15550102030', type: 'template', template: { name: 'order_update', language: { code: 'en_US' } } } });
  assert.equal(template.status, 200, template.text);
  assert.equal(template.body.messages[0].message_status, 'accepted');
  kapso.assertResponse('sendMessage', 200, template.body);
});

test('every message type the SDK sends is accepted with its type object', async () => {
  const parts: Record<string, unknown> = {
    image: { id: '123', caption: 'c' },
    document: { link: 'https://example.com/a.pdf', filename: 'a.pdf' },
    video: { id: '1' },
    audio: { id: '1', voice: true },
    sticker: { id: '1' },
    location: { latitude: 1.5, longitude: 2.5 },
    contacts: [{ name: { formatted_name: 'A' } }],
    reaction: { message_id: 'wamid.x', emoji: '👍' },
    interactive: { type: 'button', body: { text: 'pick' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] } },
  };
  for (const [type, part] of Object.entries(parts)) {
    const answer = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', to: '15550102030', type, [type]: part } });
    assert.equal(answer.status, 200, `${type}: ${answer.text}`);
  }
});

test('mark read and the typing indicator answer success without a message', async () => {
  const before = graph.sent.size;
  const read = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.abc', typing_indicator: { type: 'text' } } });
  assert.equal(read.status, 200, read.text);
  assert.deepEqual(read.body, { success: true });
  assert.equal(graph.sent.size, before);
  const noId = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', status: 'read' } });
  assert.equal(noId.status, 400);
  assert.equal(metaError(noId).code, 100);
});

test('bad send bodies are refused 400 code 100, naming the problem', async () => {
  const cases: [unknown, RegExp][] = [
    [{ to: '15550102030', type: 'text', text: { body: 'x' } }, /messaging_product/],
    [{ messaging_product: 'sms', to: '15550102030', text: { body: 'x' } }, /messaging_product/],
    [{ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, /\bto\b/],
    [{ messaging_product: 'whatsapp', to: '15550102030', type: 'fax', fax: {} }, /fax/],
    [{ messaging_product: 'whatsapp', to: '15550102030', type: 'image' }, /image/],
    [{ messaging_product: 'whatsapp', to: '15550102030', type: 'text', text: {} }, /text\.body/],
    [{ messaging_product: 'whatsapp', to: '15550102030', type: 'template', template: { name: 'x' } }, /language/],
    [{ messaging_product: 'whatsapp', to: '12', type: 'text', text: { body: 'x' } }, /7 to 15 digits/],
    [[1, 2], /JSON object/],
  ];
  for (const [body, names] of cases) {
    const answer = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body });
    assert.equal(answer.status, 400, `${JSON.stringify(body)} → ${answer.text}`);
    const error = metaError(answer);
    assert.equal(error.code, 100);
    assert.match(`${error.message} ${error.error_data?.details ?? ''}`, names, answer.text);
    kapso.assertResponse('sendMessage', 400, answer.body);
  }
  const notJson = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: '{"messaging_product":' });
  assert.equal(notJson.status, 400);
  assert.match(metaError(notJson).error_data!.details, /not valid JSON/);
});

test('a missing token is 401 code 190; a wrong one for a known number too', async () => {
  const missing = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { token: null, body: { messaging_product: 'whatsapp', to: '15550102030', text: { body: 'x' } } });
  assert.equal(missing.status, 401);
  assert.deepEqual([metaError(missing).code, metaError(missing).type], [190, 'OAuthException']);
  kapso.assertResponse('sendMessage', 401, missing.body);
  const wrong = await sendText(graph, '15550102030', 'x');
  assert.equal(wrong.status, 200, 'the right token works');
  const refused = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { token: 'EAAG-someone-else', body: { messaging_product: 'whatsapp', to: '15550102030', text: { body: 'x' } } });
  assert.equal(refused.status, 401);
  assert.equal(metaError(refused).code, 190);
  const malformed = await call(graph, 'GET', `/v23.0/${PNID}`, { token: null, headers: { authorization: 'Basic abc' } });
  assert.equal(malformed.status, 401);
});

test('a token predicate decides per id', async () => {
  const strict = await startStandInGraph({ tokens: (id, token) => token === `tok-${id}` });
  try {
    assert.equal((await call(strict, 'GET', '/v23.0/555000111', { token: 'tok-555000111' })).status, 200);
    assert.equal((await call(strict, 'GET', '/v23.0/555000111', { token: 'tok-555000112' })).status, 401);
  } finally {
    await strict.close();
  }
});

test('each refusing trigger answers its code synchronously, with nothing accepted', async () => {
  for (const name of ['marketingStopped', 'rateLimited', 'reengagementWindow', 'serverError'] as const) {
    const trigger = SANDBOX_TRIGGERS[name];
    const before = graph.sent.size;
    const answer = await sendText(graph, triggerRecipient(name));
    assert.equal(answer.status, trigger.refusal.status, `${name}: ${answer.text}`);
    const error = metaError(answer);
    assert.equal(error.code, trigger.refusal.code, name);
    assert.equal(error.error_data?.messaging_product, 'whatsapp');
    assert.equal(typeof error.error_data?.details, 'string');
    assert.equal(graph.sent.size, before, `${name} accepted nothing`);
  }
  const limited = await sendText(graph, triggerRecipient('rateLimited'));
  assert.equal(limited.headers.get('retry-after'), '1');
});

test('outside the service window only free-form is refused: a template to the same number goes', async () => {
  const to = triggerRecipient('reengagementWindow');
  assert.equal((await sendText(graph, to)).status, 400);
  const template = await call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', to, type: 'template', template: { name: 'hello', language: { code: 'en' } } } });
  assert.equal(template.status, 200, template.text);
});

test('failing triggers are accepted now (they fail later, by webhook)', async () => {
  for (const name of ['undeliverable', 'ecosystemLimit'] as const) {
    const answer = await sendText(graph, triggerRecipient(name));
    assert.equal(answer.status, 200, `${name}: ${answer.text}`);
  }
});

test('triggers fire only on the marker: made-up test numbers never do', () => {
  assert.equal(triggerFor('15550000050'), null, 'only four trailing digits');
  assert.equal(triggerFor('16501230050'), null);
  assert.equal(triggerFor('+1 555 9999 0050'), SANDBOX_TRIGGERS.marketingStopped);
  for (const [name, trigger] of Object.entries(SANDBOX_TRIGGERS)) assert.equal(triggerFor(trigger.example), trigger, name);
  assert.equal(triggerFor('155599990001'), null, 'an unknown code after the marker');
});

test('strict templates refuse a name the WABA does not hold with 132001', async () => {
  const strict = await startStandInGraph({ strictTemplates: true });
  try {
    strict.addTemplate({ name: 'known_one', language: 'en_US' });
    const body = (name: string) => ({ messaging_product: 'whatsapp', to: '15550102030', type: 'template', template: { name, language: { code: 'en_US' } } });
    assert.equal((await call(strict, 'POST', `/v23.0/${PNID}/messages`, { body: body('known_one') })).status, 200);
    const unknown = await call(strict, 'POST', `/v23.0/${PNID}/messages`, { body: body('unknown_one') });
    assert.equal(unknown.status, 404);
    assert.equal(metaError(unknown).code, 132001);
  } finally {
    await strict.close();
  }
});
