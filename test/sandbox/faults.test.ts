// Telling the stand-in to fail: cut connections, slow answers, chosen errors for the next N
// calls or for some paths; and the record of calls that tests assert on.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { startStandInGraph, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { call, metaError, PNID, sendText, TOKEN } from './graph.ts';

let graph: StandInGraph;

before(async () => {
  graph = await startStandInGraph({});
});
beforeEach(() => graph.reset());
after(() => graph.close());

test('down: the connection is cut without an answer, until cleared', async () => {
  graph.setFault({ kind: 'down' });
  await assert.rejects(sendText(graph, '15550102030'), (error: Error) => /fetch failed/.test(error.message));
  await assert.rejects(call(graph, 'GET', `/v23.0/${PNID}`));
  assert.equal(graph.requests.length, 2);
  assert.deepEqual(graph.requests.map((r) => r.status), [null, null]);
  graph.clearFaults();
  assert.equal((await sendText(graph, '15550102030')).status, 200);
});

test('error: the next N calls get the chosen status and body, then normal answers resume', async () => {
  graph.setFault({ kind: 'error', status: 503, times: 2 });
  for (let i = 0; i < 2; i++) {
    const failed = await sendText(graph, '15550102030');
    assert.equal(failed.status, 503);
    assert.equal(metaError(failed).code, 2);
  }
  assert.equal((await sendText(graph, '15550102030')).status, 200);
  const body = { error: { message: 'custom', type: 'OAuthException', code: 131056, fbtrace_id: 'x' } };
  graph.setFault({ kind: 'error', status: 400, body, times: 1, headers: { 'retry-after': '7' } });
  const custom = await sendText(graph, '15550102030');
  assert.deepEqual([custom.status, custom.body, custom.headers.get('retry-after')], [400, body, '7']);
});

test('a fault can aim at some paths only: a substring, a RegExp or a predicate', async () => {
  graph.setFault({ kind: 'error', status: 500, match: '/media' });
  graph.setFault({ kind: 'error', status: 429, match: /message_templates$/ });
  graph.setFault({ kind: 'down', match: ({ method, path }) => method === 'DELETE' && path.startsWith('/v23.0/') });
  assert.equal((await sendText(graph, '15550102030')).status, 200);
  assert.equal((await call(graph, 'POST', `/v23.0/${PNID}/media`, { body: {} })).status, 500);
  const limited = await call(graph, 'GET', '/v23.0/300400500600700/message_templates');
  assert.equal(limited.status, 429);
  assert.equal(metaError(limited).code, 4);
  await assert.rejects(call(graph, 'DELETE', '/v23.0/123456789012'));
  assert.equal((await call(graph, 'GET', `/v23.0/${PNID}`)).status, 200);
});

test('slow: the answer waits, so a client with a shorter timeout gives up', async () => {
  graph.setFault({ kind: 'slow', ms: 3_000, times: 1 });
  await assert.rejects(
    fetch(`${graph.url}/v23.0/${PNID}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(100) }),
    (error: Error) => error.name === 'TimeoutError',
  );
  graph.setFault({ kind: 'slow', ms: 50, times: 1 });
  const late = await call(graph, 'GET', `/v23.0/${PNID}`);
  assert.equal(late.status, 200, 'a slow answer is still the normal answer');
});

test('requests records method, path, query, headers and the parsed body; clearRequests empties it', async () => {
  await call(graph, 'POST', `/v23.0/${PNID}/messages?debug=all&x=1&x=2`, { body: { messaging_product: 'whatsapp', to: '15550102030', text: { body: 'hi' } }, headers: { 'x-extra': 'yes' } });
  const [recorded] = graph.requests;
  assert.equal(recorded!.method, 'POST');
  assert.equal(recorded!.path, `/v23.0/${PNID}/messages`);
  assert.deepEqual(recorded!.query, { debug: 'all', x: ['1', '2'] });
  assert.equal(recorded!.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(recorded!.headers['x-extra'], 'yes');
  assert.deepEqual(recorded!.body, { messaging_product: 'whatsapp', to: '15550102030', text: { body: 'hi' } });
  assert.equal(recorded!.status, 200);
  assert.equal(typeof recorded!.at, 'number');
  graph.clearRequests();
  assert.equal(graph.requests.length, 0);
});

test('only the newest keepRequests calls are kept', async () => {
  const small = await startStandInGraph({ keepRequests: 3 });
  try {
    for (let i = 0; i < 5; i++) await call(small, 'GET', `/v23.0/${PNID}?i=${i}`);
    assert.deepEqual(small.requests.map((r) => r.query.i), ['2', '3', '4']);
  } finally {
    await small.close();
  }
});

test('reset puts faults, calls and state back as they were at the start', async () => {
  graph.setFault({ kind: 'error', status: 500, match: '/never' });
  graph.setPhoneNumber(PNID, { quality_rating: 'RED' });
  const media = graph.addMedia({ mimeType: 'image/png', bytes: 'x' });
  graph.reset();
  assert.equal(graph.requests.length, 0);
  assert.equal(graph.media(media.id), undefined);
  assert.equal((await call(graph, 'GET', `/v23.0/${PNID}?fields=quality_rating`)).body.quality_rating, 'GREEN');
});

test('one connection carries many calls (keep-alive)', async () => {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 1 });
  try {
    for (let i = 0; i < 20; i++) {
      const response = await request(`${graph.url}/v23.0/${PNID}/messages`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ messaging_product: 'whatsapp', to: '15550102030', text: { body: `n${i}` } }) });
      assert.equal(response.statusCode, 200);
      assert.notEqual(response.headers.connection, 'close');
      await response.body.dump();
    }
  } finally {
    await agent.close();
  }
});
