// Templates on a WABA through the stand-in: paging with Meta's token-bearing links, filters,
// creation and its checks, reading one, deleting by name or id.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStandInGraph, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { call, metaError, TOKEN } from './graph.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';

const kapso = kapsoProxyChecksAlongside('the stand-in\'s template answers');
const WABA = '300400500600700';
let graph: StandInGraph;

before(async () => {
  graph = await startStandInGraph({});
  for (let i = 1; i <= 5; i++) graph.addTemplate({ wabaId: WABA, name: `promo_${i}`, language: 'en_US', category: i % 2 ? 'MARKETING' : 'UTILITY', status: i === 5 ? 'PENDING' : 'APPROVED' });
  graph.addTemplate({ wabaId: WABA, name: 'promo_1', language: 'es', category: 'MARKETING' });
  graph.addTemplate({ wabaId: '999888777666555', name: 'elsewhere', language: 'en_US' });
});
after(() => graph.close());

/** The stand-in's path for one of Meta's paging links (which name graph.facebook.com). */
function onStandIn(link: string): string {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

test('pages of templates carry the access token in next and previous, as Meta\'s do', async () => {
  const first = await call(graph, 'GET', `/v23.0/${WABA}/message_templates?limit=2`);
  assert.equal(first.status, 200, first.text);
  kapso.assertResponse('listTemplates', 200, first.body);
  assert.deepEqual(first.body.data.map((t: any) => t.name), ['promo_1', 'promo_2']);
  assert.deepEqual(Object.keys(first.body.data[0]).sort(), ['category', 'components', 'id', 'language', 'name', 'status']);
  assert.equal(first.body.paging.previous, undefined);
  const next = new URL(first.body.paging.next);
  assert.equal(next.origin, 'https://graph.facebook.com');
  assert.equal(next.pathname, `/v23.0/${WABA}/message_templates`);
  assert.equal(next.searchParams.get('access_token'), TOKEN);
  assert.equal(next.searchParams.get('after'), first.body.paging.cursors.after);

  const second = await call(graph, 'GET', onStandIn(first.body.paging.next), { token: null });
  assert.equal(second.status, 200, 'the token in the link is accepted, as Meta accepts it');
  assert.deepEqual(second.body.data.map((t: any) => t.name), ['promo_3', 'promo_4']);
  assert.equal(new URL(second.body.paging.previous).searchParams.get('access_token'), TOKEN);
  const third = await call(graph, 'GET', onStandIn(second.body.paging.next));
  assert.deepEqual(third.body.data.map((t: any) => `${t.name}/${t.language}`), ['promo_5/en_US', 'promo_1/es']);
  assert.equal(third.body.paging.next, undefined, 'no next after the last page');
  const back = await call(graph, 'GET', onStandIn(third.body.paging.previous));
  assert.deepEqual(back.body.data.map((t: any) => t.name), ['promo_3', 'promo_4']);
  assert.match((await call(graph, 'GET', `/v24.0/${WABA}/message_templates?limit=1`)).body.paging.next, /\/v24\.0\//, 'the link keeps the caller\'s version');
});

test('filters by name, status, category and language; templates stay on their WABA', async () => {
  const names = async (query: string) => (await call(graph, 'GET', `/v23.0/${WABA}/message_templates?${query}`)).body.data.map((t: any) => `${t.name}/${t.language}`);
  assert.deepEqual(await names('name=promo_1'), ['promo_1/en_US', 'promo_1/es']);
  assert.deepEqual(await names('status=PENDING'), ['promo_5/en_US']);
  assert.deepEqual(await names('category=UTILITY'), ['promo_2/en_US', 'promo_4/en_US']);
  assert.deepEqual(await names('language=es'), ['promo_1/es']);
  assert.deepEqual(await names('name=elsewhere'), []);
  const bad = await call(graph, 'GET', `/v23.0/${WABA}/message_templates?limit=0`);
  assert.equal(bad.status, 400);
  assert.equal(metaError(bad).code, 100);
});

test('create answers id, status and category, and the template can be read by id', async () => {
  const created = await call(graph, 'POST', `/v23.0/${WABA}/message_templates`, { body: { name: 'order_ready', language: 'en_US', category: 'UTILITY', components: [{ type: 'BODY', text: 'Your order {{1}} is ready' }] } });
  assert.equal(created.status, 200, created.text);
  assert.deepEqual(Object.keys(created.body).sort(), ['category', 'id', 'status']);
  assert.deepEqual([created.body.status, created.body.category], ['APPROVED', 'UTILITY']);
  // (Kapso's createOrUpdateTemplate 200 is a oneOf of two schemas without required fields, which
  // every body matches twice, so it cannot serve as an oracle here.)
  const read = await call(graph, 'GET', `/v23.0/${created.body.id}`);
  assert.equal(read.body.name, 'order_ready');
  assert.deepEqual(read.body.components, [{ type: 'BODY', text: 'Your order {{1}} is ready' }]);
  const nested = await call(graph, 'GET', `/v23.0/${WABA}/message_templates/${created.body.id}`);
  assert.equal(nested.body.id, created.body.id);
  kapso.assertResponse('getTemplate', 200, nested.body);
  const again = await call(graph, 'POST', `/v23.0/${WABA}/message_templates`, { body: { name: 'order_ready', language: 'en_US', category: 'UTILITY', components: [{ type: 'BODY', text: 'x' }] } });
  assert.equal(again.status, 400);
  assert.equal(metaError(again).error_subcode, 2388024);
});

test('create refuses a body without name, language, category or components', async () => {
  const good = { name: 'fine_name', language: 'en_US', category: 'MARKETING', components: [{ type: 'BODY', text: 'x' }] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, name: undefined }, /name/],
    [{ ...good, name: 'Has Spaces' }, /lower-case/],
    [{ ...good, language: undefined }, /language/],
    [{ ...good, category: 'SPAM' }, /category/],
    [{ ...good, components: [] }, /components/],
    [{ ...good, components: [{ type: 'HEADER', text: 'x' }] }, /BODY/],
  ];
  for (const [body, names] of cases) {
    const answer = await call(graph, 'POST', `/v23.0/${WABA}/message_templates`, { body });
    assert.equal(answer.status, 400, JSON.stringify(body));
    const error = metaError(answer);
    assert.match(`${error.message} ${error.error_data?.details ?? ''}`, names);
  }
});

test('a PENDING stand-in creates pending templates; tests can approve them', async () => {
  const pending = await startStandInGraph({ templateStatus: 'PENDING' });
  try {
    const created = await call(pending, 'POST', `/v23.0/${WABA}/message_templates`, { body: { name: 'slow_review', language: 'en', category: 'MARKETING', components: [{ type: 'BODY', text: 'x' }] } });
    assert.equal(created.body.status, 'PENDING');
    pending.setTemplateStatus(created.body.id, 'APPROVED');
    assert.equal((await call(pending, 'GET', `/v23.0/${created.body.id}`)).body.status, 'APPROVED');
  } finally {
    await pending.close();
  }
});

test('delete by name removes every language; by hsm_id only that one', async () => {
  const list = async () => (await call(graph, 'GET', `/v23.0/${WABA}/message_templates?name=promo_1`)).body.data;
  const spanish = (await list()).find((t: any) => t.language === 'es');
  const one = await call(graph, 'DELETE', `/v23.0/${WABA}/message_templates?name=promo_1&hsm_id=${spanish.id}`);
  assert.deepEqual([one.status, one.body], [200, { success: true }]);
  kapso.assertResponse('deleteTemplate', 200, one.body);
  assert.deepEqual((await list()).map((t: any) => t.language), ['en_US']);
  assert.equal((await call(graph, 'DELETE', `/v23.0/${WABA}/message_templates?name=promo_1`)).status, 200);
  assert.deepEqual(await list(), []);
  const unknown = await call(graph, 'DELETE', `/v23.0/${WABA}/message_templates?name=promo_1`);
  assert.equal(unknown.status, 400);
  assert.equal(metaError(unknown).code, 100);
  assert.equal((await call(graph, 'DELETE', `/v23.0/${WABA}/message_templates`)).status, 400);
});
