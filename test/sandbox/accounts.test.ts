// Phone number and WABA fields for Parley's health check, settable per number, and the plain
// edges the SDK passes through: profile, registration, settings, calls, flows; unknown paths.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SANDBOX_WABA_ID, startStandInGraph, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { call, metaError, PNID } from './graph.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';

const kapso = kapsoProxyChecksAlongside('the stand-in\'s phone number and profile answers');
const OTHER_WABA = '410410410410410';
let graph: StandInGraph;

before(async () => {
  graph = await startStandInGraph({ phoneNumbers: { '777000111222': { wabaId: OTHER_WABA, verified_name: 'Configured Co', display_phone_number: '+1 555-010-9999' } } });
});
after(() => graph.close());

test('GET /{pnid} answers the health fields; fields= picks some', async () => {
  const all = await call(graph, 'GET', `/v23.0/${PNID}`);
  assert.equal(all.status, 200, all.text);
  for (const field of ['id', 'display_phone_number', 'verified_name', 'quality_rating', 'code_verification_status', 'name_status', 'status', 'throughput', 'messaging_limit_tier', 'platform_type', 'health_status']) assert.ok(field in all.body, field);
  assert.equal(all.body.id, PNID);
  assert.deepEqual(all.body.throughput, { level: 'STANDARD' });
  assert.equal(all.body.health_status.can_send_message, 'AVAILABLE');
  assert.deepEqual(all.body.health_status.entities.map((e: any) => e.entity_type), ['PHONE_NUMBER', 'WABA', 'BUSINESS', 'APP']);
  assert.equal(all.body.health_status.entities[1].id, SANDBOX_WABA_ID);
  const { health_status: _health, ...documented } = all.body;
  kapso.assertResponse('getPhoneNumber', 200, documented);
  const some = await call(graph, 'GET', `/v23.0/${PNID}?fields=verified_name,quality_rating,health_status`);
  assert.deepEqual(Object.keys(some.body).sort(), ['health_status', 'id', 'quality_rating', 'verified_name']);
});

test('tests set a number\'s fields and its health; the worst entity decides can_send_message', async () => {
  graph.setPhoneNumber(PNID, { quality_rating: 'RED', status: 'DISCONNECTED', can_send_message: 'LIMITED' });
  let number = (await call(graph, 'GET', `/v23.0/${PNID}`)).body;
  assert.deepEqual([number.quality_rating, number.status, number.health_status.can_send_message], ['RED', 'DISCONNECTED', 'LIMITED']);
  graph.setWaba(SANDBOX_WABA_ID, { can_send_message: 'BLOCKED' });
  number = (await call(graph, 'GET', `/v23.0/${PNID}`)).body;
  assert.equal(number.health_status.can_send_message, 'BLOCKED');
  assert.equal(number.health_status.entities[1].can_send_message, 'BLOCKED');
  graph.setWaba(SANDBOX_WABA_ID, { can_send_message: 'AVAILABLE' });
  graph.setPhoneNumber(PNID, { quality_rating: 'GREEN', status: 'CONNECTED', can_send_message: 'AVAILABLE' });
});

test('configured numbers keep their WABA; GET /{waba} and its phone_numbers', async () => {
  const configured = (await call(graph, 'GET', '/v23.0/777000111222')).body;
  assert.equal(configured.verified_name, 'Configured Co');
  assert.equal(configured.health_status.entities[1].id, OTHER_WABA);
  const waba = await call(graph, 'GET', `/v23.0/${OTHER_WABA}?fields=id,name,account_review_status,health_status`);
  assert.equal(waba.status, 200, waba.text);
  assert.deepEqual(Object.keys(waba.body).sort(), ['account_review_status', 'health_status', 'id', 'name']);
  assert.equal(waba.body.account_review_status, 'APPROVED');
  assert.equal(waba.body.health_status.entities[0].entity_type, 'WABA');
  const numbers = await call(graph, 'GET', `/v23.0/${OTHER_WABA}/phone_numbers`);
  assert.deepEqual(numbers.body.data.map((n: any) => n.id), ['777000111222']);
  assert.equal((await call(graph, 'GET', `/v23.0/${OTHER_WABA}/subscribed_apps`)).body.data.length, 1);
});

test('business profile: read, update, read back', async () => {
  const before = await call(graph, 'GET', `/v23.0/${PNID}/whatsapp_business_profile?fields=about,websites`);
  assert.equal(before.status, 200);
  assert.equal(before.body.data[0].messaging_product, 'whatsapp');
  kapso.assertResponse('getBusinessProfile', 200, before.body);
  const update = await call(graph, 'POST', `/v23.0/${PNID}/whatsapp_business_profile`, { body: { messaging_product: 'whatsapp', about: 'Open 9 to 5' } });
  assert.deepEqual(update.body, { success: true });
  kapso.assertResponse('updateBusinessProfile', 200, update.body);
  assert.equal((await call(graph, 'GET', `/v23.0/${PNID}/whatsapp_business_profile`)).body.data[0].about, 'Open 9 to 5');
  assert.equal((await call(graph, 'POST', `/v23.0/${PNID}/whatsapp_business_profile`, { body: { about: 'x' } })).status, 400);
});

test('registration, codes and settings answer success; bad pins and codes are refused', async () => {
  for (const [edge, body] of [['register', { messaging_product: 'whatsapp', pin: '123456' }], ['deregister', undefined], ['request_code', { code_method: 'SMS', language: 'en' }], ['verify_code', { code: '654321' }], ['settings', { fallback_language: 'es' }]] as const) {
    const answer = await call(graph, 'POST', `/v23.0/${PNID}/${edge}`, { body });
    assert.deepEqual([answer.status, answer.body], [200, { success: true }], edge);
  }
  assert.equal((await call(graph, 'GET', `/v23.0/${PNID}/settings`)).body.fallback_language, 'es');
  assert.equal((await call(graph, 'POST', `/v23.0/${PNID}/register`, { body: { pin: '12' } })).status, 400);
  assert.equal((await call(graph, 'POST', `/v23.0/${PNID}/verify_code`, { body: { code: 'abc' } })).status, 400);
});

test('calls and call permissions', async () => {
  const connect = await call(graph, 'POST', `/v23.0/${PNID}/calls`, { body: { messaging_product: 'whatsapp', to: '15550102030', action: 'connect', session: { sdp_type: 'offer', sdp: 'v=0' } } });
  assert.match(connect.body.calls[0].id, /^wacid\./);
  const terminate = await call(graph, 'POST', `/v23.0/${PNID}/calls`, { body: { messaging_product: 'whatsapp', call_id: connect.body.calls[0].id, action: 'terminate' } });
  assert.equal(terminate.body.success, true);
  const permissions = await call(graph, 'GET', `/v23.0/${PNID}/call_permissions?user_wa_id=15550102030`);
  assert.equal(permissions.body.permission.status, 'no_permission');
  assert.equal((await call(graph, 'GET', `/v23.0/${PNID}/call_permissions`)).status, 400);
});

test('flows: create, read, upload the JSON, publish, deprecate', async () => {
  const created = await call(graph, 'POST', `/v23.0/${SANDBOX_WABA_ID}/flows`, { body: { name: 'signup', categories: ['SIGN_UP'], flow_json: '{"version":"6.0","screens":[]}' } });
  assert.equal(created.status, 200, created.text);
  assert.deepEqual([created.body.success, created.body.validation_errors], [true, []]);
  const id = created.body.id;
  assert.equal((await call(graph, 'GET', `/v23.0/${id}?fields=name,status`)).body.status, 'DRAFT');
  const form = new FormData();
  form.append('name', 'flow.json');
  form.append('asset_type', 'FLOW_JSON');
  form.append('file', new Blob(['{"version":"6.0"}'], { type: 'application/json' }), 'flow.json');
  const asset = await fetch(`${graph.url}/v23.0/${id}/assets?business_account_id=${SANDBOX_WABA_ID}`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: form });
  assert.deepEqual([asset.status, await asset.json()], [200, { success: true }]);
  assert.equal((await call(graph, 'POST', `/v23.0/${id}/deprecate`)).status, 400, 'a draft cannot be deprecated');
  assert.deepEqual((await call(graph, 'POST', `/v23.0/${id}/publish`)).body, { success: true });
  assert.deepEqual((await call(graph, 'POST', `/v23.0/${id}/deprecate`)).body, { success: true });
  assert.equal((await call(graph, 'GET', `/v23.0/${id}`)).body.status, 'DEPRECATED');
  assert.deepEqual((await call(graph, 'GET', `/v23.0/${SANDBOX_WABA_ID}/flows`)).body.data.map((f: any) => f.id), [id]);
});

test('unknown paths and versions are Meta\'s 400 code 100 "Unsupported … request"', async () => {
  for (const [method, path] of [['GET', `/v23.0/${PNID}/nothing_here`], ['POST', '/v23.0/not-an-id'], ['GET', '/graph/123'], ['GET', `/v23.0/${PNID}/a/b/c`], ['PATCH', `/v23.0/${PNID}/messages`]] as const) {
    const answer = await call(graph, method, path);
    assert.equal(answer.status, 400, `${method} ${path}: ${answer.text}`);
    const error = metaError(answer);
    assert.equal(error.code, 100);
    assert.match(error.message, new RegExp(`^Unsupported ${method.toLowerCase()} request`));
  }
});
