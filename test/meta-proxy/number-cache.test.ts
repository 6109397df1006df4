// The proxy keeps the numbers it resolves in memory on each node. A changed token or a
// disconnected number must still count from the next send: at once on the node that made the
// change, and within moments (the NOTIFY of migration 0014) on every other node, far inside the TTL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type StandInGraph, startStandInGraph } from '../../src/sandbox/graph-server.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { connectNumber, freshMetaId } from '../helpers/meta.ts';
import { freePort, type ServerProcess, startParley, stopParley } from '../helpers/process.ts';

/** The one token the stand-in accepts for every number; a test changes it. */
let acceptedToken = 'EAAG-test-token';
const text = (to: string) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: 'Hello' } });

describe('one node', () => {
  let graph: StandInGraph;
  let t: TestApp;

  before(async () => {
    graph = await startStandInGraph({ statusDelayMs: 0, tokens: (_id, token) => token === acceptedToken });
    t = await startTestApp({ metaGraphUrl: graph.url });
  });
  after(async () => {
    await t?.close();
    await graph?.close();
  });

  test('a rotated token is used by the very next send, and a disconnected number is gone for it', async () => {
    acceptedToken = 'EAAG-test-token';
    const number = await connectNumber(t);
    const send = () => t.request({ method: 'POST', url: `/meta/whatsapp/v23.0/${number.phoneNumberId}/messages`, body: text('15551230001') });
    for (let i = 0; i < 2; i++) assert.equal((await send()).status, 200, 'warm: the number is resolved and kept');

    acceptedToken = `EAAG-rotated-${randomBytes(4).toString('hex')}`;
    const rejected = await send();
    assert.equal(rejected.status, 401, `the stand-in refuses the old token: ${rejected.text}`);
    const rotated = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/phone_numbers/${number.phoneNumberId}`, body: { whatsapp_phone_number: { access_token: acceptedToken } } });
    assert.equal(rotated.status, 200, rotated.text);
    const sent = await send();
    assert.equal(sent.status, 200, `the next send carries the new token: ${sent.text}`);

    assert.equal((await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/phone_numbers/${number.phoneNumberId}` })).status, 204);
    const gone = await send();
    assert.equal(gone.status, 404, `the next send no longer finds the number: ${gone.text}`);
  });
});

describe('two nodes on one database', () => {
  let graph: StandInGraph;
  let database: TestDatabase;
  let nodes: ServerProcess[];

  before(async () => {
    graph = await startStandInGraph({ statusDelayMs: 0, tokens: (_id, token) => token === acceptedToken });
    database = await createTestDatabase();
    const env = { DATABASE_URL: database.url, PARLEY_META_GRAPH_URL: graph.url, PARLEY_SECRET_KEY: randomBytes(32).toString('hex') };
    // One after the other: only the first creates the default project and prints its key.
    nodes = [];
    for (let i = 0; i < 2; i++) nodes.push(await startParley({ ...env, PORT: String(await freePort()) }));
  });
  after(async () => {
    await Promise.all((nodes ?? []).map((node) => stopParley(node)));
    await database?.drop();
    await graph?.close();
  });

  test('a token rotated or a number disconnected on one node counts on the other within moments', async () => {
    const key = nodes.find((node) => node.firstKey !== null)?.firstKey;
    assert.ok(key, 'a node printed the first key');
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const call = async (node: ServerProcess, method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = body === undefined ? { 'x-api-key': key } : { 'x-api-key': key, 'content-type': 'application/json' };
      const response = await fetch(`${node.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, text: await response.text() };
    };
    acceptedToken = 'EAAG-node-token';
    const customer = await call(a, 'POST', '/platform/v1/customers', { customer: { name: 'Two nodes' } });
    assert.equal(customer.status, 201, customer.text);
    const pnid = freshMetaId();
    const created = await call(a, 'POST', `/platform/v1/customers/${JSON.parse(customer.text).data.id}/whatsapp/phone_numbers`, {
      whatsapp_phone_number: { name: 'Line', phone_number_id: pnid, business_account_id: '102290129340398', access_token: acceptedToken },
    });
    assert.equal(created.status, 201, created.text);
    const sendOnB = () => call(b, 'POST', `/meta/whatsapp/v23.0/${pnid}/messages`, text('15551230002'));
    /** The status node b answers within 3 s (the TTL is 30 s): the first send after the notification. */
    const settles = async (status: number) => {
      const deadline = Date.now() + 3000;
      for (;;) {
        const answer = await sendOnB();
        if (answer.status === status || Date.now() > deadline) return answer;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    assert.equal((await sendOnB()).status, 200, 'b has the number in its cache');

    acceptedToken = 'EAAG-node-token-2';
    const rotated = await call(a, 'PATCH', `/platform/v1/whatsapp/phone_numbers/${pnid}`, { whatsapp_phone_number: { access_token: acceptedToken } });
    assert.equal(rotated.status, 200, rotated.text);
    const afterRotation = await settles(200);
    assert.equal(afterRotation.status, 200, `b sends with the new token: ${afterRotation.text}`);

    assert.equal((await call(a, 'DELETE', `/platform/v1/whatsapp/phone_numbers/${pnid}`)).status, 204);
    const afterDelete = await settles(404);
    assert.equal(afterDelete.status, 404, `b no longer finds the number: ${afterDelete.text}`);
  });
});
