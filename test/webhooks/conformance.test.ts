// Every webhook operation through the real app, each answer checked against the response schema
// Kapso's OpenAPI document gives for that operation and status; the requests sent are checked
// against Kapso's request schemas too, so the bodies Parley accepts are ones Kapso documents.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
// Every test here is about Kapso's document: `test` skips, with the reason, when it is absent.
import { kapsoOracle, kapsoTest as test } from '../helpers/kapso-oracle.ts';
import { connectNumber } from '../helpers/meta.ts';

const BASE = '/platform/v1';
const HOOK_URL = 'http://127.0.0.1:9/hooks/kapso';
const UNKNOWN_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const kapso = () => kapsoOracle();

let t: TestApp;
let number: string;
before(async () => {
  t = await startTestApp();
  number = (await connectNumber(t)).phoneNumberId;
});
after(async () => t?.close());

const projectHooks = `${BASE}/whatsapp/webhooks`;
const numberHooks = (id = number) => `${BASE}/whatsapp/phone_numbers/${id}/webhooks`;

function conforms(operationId: string, response: TestResponse, status: number): any {
  assert.equal(response.status, status, `${operationId}: ${response.text}`);
  if (kapso().hasBody(operationId, status)) kapso().assertResponse(operationId, status, response.body);
  else assert.equal(response.text, '');
  return response.body;
}

function errorConforms(operationId: string, response: TestResponse, status: number): void {
  assert.equal(response.status, status, `${operationId}: ${response.text}`);
  kapso().assertError(operationId, status, response.body);
}

function kapsoFields(webhook: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(webhook).sort(), kapso().componentProperties('WhatsappWebhook').sort(), 'exactly the fields Kapso documents');
}

test('the oracle rejects webhook bodies that break Kapso’s schema', () => {
  const valid = {
    id: '9e8d7c6b-5a4f-3e2d-1c0b-9a8f7e6d5c4b', url: 'https://api.acme.com/webhooks', kind: 'kapso', events: ['whatsapp.message.received'], active: true,
    secret_key: null, headers: {}, phone_number_id: null, buffer_enabled: false, buffer_window_seconds: 5, max_buffer_size: 50, buffer_events: [],
    inactivity_minutes: 60, payload_version: 'v2', project_id: '1d6ca0a3-91c2-4f13-8a94-28ddb0d5f2f3', created_at: '2025-07-14T15:00:00Z', updated_at: '2025-07-14T15:00:00Z',
  };
  const oracle = kapso();
  assert.deepEqual(oracle.check('getWhatsappProjectWebhook', 200, { data: valid }), []);
  assert.deepEqual(oracle.check('listWhatsappProjectWebhooks', 200, { data: [valid], meta: { page: 1, per_page: 20, total_pages: 1, total_count: 1 } }), [], 'a null secret is valid in a list');
  const rejects = (operationId: string, status: number, body: unknown) => assert.ok(oracle.check(operationId, status, body).length > 0, `${operationId} must reject ${JSON.stringify(body)}`);
  rejects('getWhatsappProjectWebhook', 200, { data: { ...valid, kind: 'slack' } });
  rejects('getWhatsappPhoneNumberWebhook', 200, { data: { ...valid, secret_key: 42 } });
  rejects('createWhatsappPhoneNumberWebhook', 201, { data: { ...valid, id: 'wh_1' } });
  rejects('updateWhatsappProjectWebhook', 200, { data: { ...valid, active: undefined } });
  rejects('listWhatsappPhoneNumberWebhooks', 200, { data: [valid] });
  rejects('testWhatsappProjectWebhook', 200, { data: { success: 'yes' } });
});

test('project webhook operations conform', async () => {
  const request = { whatsapp_webhook: { url: HOOK_URL, secret_key: 'wh_sec_1', events: ['whatsapp.phone_number.created', 'whatsapp.phone_number.deleted'] } };
  kapso().assertComponent('WhatsappProjectWebhookRequest', request);
  const created = conforms('createWhatsappProjectWebhook', await t.request({ method: 'POST', url: projectHooks, body: request }), 201);
  kapsoFields(created.data);
  const url = `${projectHooks}/${created.data.id}`;

  const scopedRequest = { whatsapp_webhook: { url: HOOK_URL, phone_number_id: number, secret_key: 'wh_sec_2', events: ['whatsapp.message.received', 'whatsapp.message.sent'] } };
  kapso().assertComponent('WhatsappProjectWebhookRequest', scopedRequest);
  conforms('createWhatsappProjectWebhook', await t.request({ method: 'POST', url: projectHooks, body: scopedRequest }), 201);

  const list = conforms('listWhatsappProjectWebhooks', await t.request({ method: 'GET', url: `${projectHooks}?per_page=1&page=2` }), 200);
  assert.equal(list.data.length, 1);
  kapsoFields(list.data[0]);
  kapso().assertHeaders('listWhatsappProjectWebhooks', 200, (await t.request({ method: 'GET', url: projectHooks })).headers);

  kapsoFields(conforms('getWhatsappProjectWebhook', await t.request({ method: 'GET', url }), 200).data);
  for (const body of [{ whatsapp_webhook: { active: false } }, { whatsapp_webhook: { url: 'http://127.0.0.1:9/v2' } }]) {
    kapso().assertComponent('WhatsappWebhookUpdateRequest', body);
    conforms('updateWhatsappProjectWebhook', await t.request({ method: 'PATCH', url, body }), 200);
  }
  conforms('updateWhatsappProjectWebhook', await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { active: true } } }), 200);
  conforms('testWhatsappProjectWebhook', await t.request({ method: 'POST', url: `${url}/test`, body: {} }), 200);
  conforms('testWhatsappProjectWebhook', await t.request({ method: 'POST', url: `${url}/test`, body: { event_type: 'whatsapp.phone_number.deleted' } }), 200);
  conforms('deleteWhatsappProjectWebhook', await t.request({ method: 'DELETE', url }), 204);
});

test('project webhook errors conform', async () => {
  const missing = `${projectHooks}/${UNKNOWN_ID}`;
  errorConforms('getWhatsappProjectWebhook', await t.request({ method: 'GET', url: missing }), 404);
  errorConforms('updateWhatsappProjectWebhook', await t.request({ method: 'PATCH', url: missing, body: { whatsapp_webhook: { active: false } } }), 404);
  errorConforms('deleteWhatsappProjectWebhook', await t.request({ method: 'DELETE', url: missing }), 404);
  errorConforms('testWhatsappProjectWebhook', await t.request({ method: 'POST', url: `${missing}/test`, body: {} }), 404);
  errorConforms('createWhatsappProjectWebhook', await t.request({ method: 'POST', url: projectHooks, body: { whatsapp_webhook: { url: 'nope', events: ['whatsapp.contact.created'] } } }), 422);
  errorConforms('createWhatsappProjectWebhook', await t.request({ method: 'POST', url: projectHooks, body: { whatsapp_webhook: { url: HOOK_URL, phone_number_id: '404404404', secret_key: 's', events: ['whatsapp.message.sent'] } } }), 404);
  const created = await t.request({ method: 'POST', url: projectHooks, body: { whatsapp_webhook: { url: HOOK_URL, events: ['whatsapp.contact.created'] } } });
  const url = `${projectHooks}/${created.body.data.id}`;
  errorConforms('updateWhatsappProjectWebhook', await t.request({ method: 'PATCH', url, body: { whatsapp_webhook: { kind: 'meta' } } }), 422);
  errorConforms('testWhatsappProjectWebhook', await t.request({ method: 'POST', url: `${url}/test`, body: { event_type: 'whatsapp.contact.erased' } }), 422);
  for (const [operationId, method, path] of [
    ['listWhatsappProjectWebhooks', 'GET', projectHooks],
    ['createWhatsappProjectWebhook', 'POST', projectHooks],
    ['getWhatsappProjectWebhook', 'GET', url],
    ['updateWhatsappProjectWebhook', 'PATCH', url],
    ['deleteWhatsappProjectWebhook', 'DELETE', url],
    ['testWhatsappProjectWebhook', 'POST', `${url}/test`],
  ] as const) {
    errorConforms(operationId, await t.request({ method, url: path, key: null, body: method === 'POST' || method === 'PATCH' ? {} : undefined }), 401);
  }
});

test('phone number webhook operations conform', async () => {
  const own = (await connectNumber(t)).phoneNumberId;
  // Kapso's examples, as published.
  const examples = [
    { whatsapp_webhook: { url: HOOK_URL, secret_key: 'wh_sec_3kfj9dmfkg8s2', events: ['whatsapp.message.received', 'whatsapp.message.sent'], active: true } },
    {
      whatsapp_webhook: {
        url: HOOK_URL, secret_key: 'wh_sec_3kfj9dmfkg8s2', events: ['whatsapp.message.received', 'whatsapp.message.sent'], buffer_enabled: true,
        buffer_window_seconds: 10, max_buffer_size: 25, buffer_events: ['whatsapp.message.received'], headers: { 'X-Webhook-Source': 'kapso' },
      },
    },
    { whatsapp_webhook: { url: HOOK_URL, secret_key: 'wh_sec_3kfj9dmfkg8s2', events: ['whatsapp.message.received', 'whatsapp.conversation.inactive'], inactivity_minutes: 30 } },
    { whatsapp_webhook: { kind: 'meta', url: HOOK_URL, secret_key: 'your-signing-secret', active: true } },
  ];
  const ids: string[] = [];
  for (const body of examples) {
    kapso().assertComponent('WhatsappWebhookRequest', body);
    const created = conforms('createWhatsappPhoneNumberWebhook', await t.request({ method: 'POST', url: numberHooks(own), body }), 201);
    kapsoFields(created.data);
    ids.push(created.data.id);
  }
  const list = conforms('listWhatsappPhoneNumberWebhooks', await t.request({ method: 'GET', url: numberHooks(own) }), 200);
  assert.equal(list.data.length, 4);
  kapso().assertHeaders('listWhatsappPhoneNumberWebhooks', 200, (await t.request({ method: 'GET', url: `${numberHooks(own)}?kind=kapso&active=true` })).headers);
  const url = `${numberHooks(own)}/${ids[0]}`;
  kapsoFields(conforms('getWhatsappPhoneNumberWebhook', await t.request({ method: 'GET', url }), 200).data);
  const update = { whatsapp_webhook: { buffer_enabled: true, buffer_window_seconds: 5, max_buffer_size: 20, buffer_events: ['whatsapp.message.received'] } };
  kapso().assertComponent('WhatsappWebhookUpdateRequest', update);
  conforms('updateWhatsappPhoneNumberWebhook', await t.request({ method: 'PATCH', url, body: update }), 200);
  conforms('testWhatsappProjectWebhook', await t.request({ method: 'POST', url: `${projectHooks}/${ids[3]}/test`, body: {} }), 200);
  for (const id of ids) conforms('deleteWhatsappPhoneNumberWebhook', await t.request({ method: 'DELETE', url: `${numberHooks(own)}/${id}` }), 204);
});

test('phone number webhook errors conform', async () => {
  const unknownNumber = numberHooks('404404404');
  errorConforms('listWhatsappPhoneNumberWebhooks', await t.request({ method: 'GET', url: unknownNumber }), 404);
  errorConforms('createWhatsappPhoneNumberWebhook', await t.request({ method: 'POST', url: unknownNumber, body: { whatsapp_webhook: { url: HOOK_URL, secret_key: 's', events: ['whatsapp.message.sent'] } } }), 404);
  errorConforms('getWhatsappPhoneNumberWebhook', await t.request({ method: 'GET', url: `${numberHooks()}/${UNKNOWN_ID}` }), 404);
  errorConforms('updateWhatsappPhoneNumberWebhook', await t.request({ method: 'PATCH', url: `${numberHooks()}/${UNKNOWN_ID}`, body: { whatsapp_webhook: {} } }), 404);
  errorConforms('deleteWhatsappPhoneNumberWebhook', await t.request({ method: 'DELETE', url: `${numberHooks()}/${UNKNOWN_ID}` }), 404);
  errorConforms('createWhatsappPhoneNumberWebhook', await t.request({ method: 'POST', url: numberHooks(), body: { whatsapp_webhook: { url: HOOK_URL, events: ['whatsapp.message.sent'] } } }), 422);
  const created = await t.request({ method: 'POST', url: numberHooks(), body: { whatsapp_webhook: { url: HOOK_URL, secret_key: 's', events: ['whatsapp.message.sent'] } } });
  errorConforms('updateWhatsappPhoneNumberWebhook', await t.request({ method: 'PATCH', url: `${numberHooks()}/${created.body.data.id}`, body: { whatsapp_webhook: { max_buffer_size: 0 } } }), 422);
  errorConforms('listWhatsappPhoneNumberWebhooks', await t.request({ method: 'GET', url: numberHooks(), key: null }), 401);
  errorConforms('getWhatsappPhoneNumberWebhook', await t.request({ method: 'GET', url: `${numberHooks()}/${created.body.data.id}`, key: 'wrong' }), 401);
});
