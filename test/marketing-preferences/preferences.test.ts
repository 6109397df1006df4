// GET /whatsapp/contacts/{identifier}/marketing_preferences[/{phone_number_id}] through the real
// app, on preferences that Meta's user_preferences webhooks and 131050 failures recorded.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { ISO_MICROS } from '../helpers/contacts.ts';
import { connectNumber, drain, inboundText, messagesChange, minutesAgo, postWebhook } from '../helpers/inbound.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';

const LIST = 'listWhatsappContactMarketingPreferences';
const GET = 'getWhatsappContactMarketingPreference';
const CONTACTS = '/platform/v1/whatsapp/contacts';

const NUMBER_A = '5500000000001';
const NUMBER_B = '5500000000002';
const NUMBER_GONE = '5500000000003';
const NUMBER_AGAIN = '5500000000004';
const NUMBER_BETA = '6600000000001';
const ALICE = '15550007777';
const BOB = '15550008888';
const QUIET = '15550009999';
const BSUID = 'US.55512208655302741918';

/** Kapso's schemas checked along the way; left out (and reported as skipped) without the document. */
const kapso = kapsoChecksAlongside('Marketing preference answers');

let t: TestApp;
let aliceId: string;

const listUrl = (identifier: string) => `${CONTACTS}/${encodeURIComponent(identifier)}/marketing_preferences`;
const list = (identifier: string, key?: string) => t.request({ method: 'GET', url: listUrl(identifier), ...(key ? { key } : {}) });
const get = (identifier: string, number: string, key?: string) =>
  t.request({ method: 'GET', url: `${listUrl(identifier)}/${encodeURIComponent(number)}`, ...(key ? { key } : {}) });

function ok(operationId: string, response: TestResponse): any {
  assert.equal(response.status, 200, response.text);
  kapso.assertResponse(operationId, 200, response.body);
  return response.body.data;
}

function notFound(operationId: string, response: TestResponse, message: string): void {
  assert.equal(response.status, 404, response.text);
  assert.deepEqual(response.body, { error: message });
  kapso.assertResponse(operationId, 404, response.body);
}

async function preference(phoneNumberId: string, entry: Record<string, unknown>, contact?: Record<string, unknown>): Promise<void> {
  const value = { ...(contact ? { contacts: [contact] } : {}), user_preferences: [{ category: 'marketing_messages', ...entry }] };
  await postWebhook(t, messagesChange(phoneNumberId, value, 'user_preferences'));
  await drain(t);
}

before(async () => {
  t = await startTestApp();
  await connectNumber(t, { phoneNumberId: NUMBER_A, name: 'Support line' });
  await connectNumber(t, { phoneNumberId: NUMBER_B, name: 'Sales line' });
  await connectNumber(t, { phoneNumberId: NUMBER_GONE, name: 'Old line' });
  await connectNumber(t, { phoneNumberId: NUMBER_BETA, key: t.otherKey });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: ALICE, bsuid: BSUID, name: 'Alice', text: 'hi', timestamp: minutesAgo(60) });
  await inboundText(t, { phoneNumberId: NUMBER_A, from: QUIET, name: 'Quiet', text: 'hi', timestamp: minutesAgo(60) });
  aliceId = (await t.request({ method: 'GET', url: `${CONTACTS}/${ALICE}` })).body.data.id;
});
after(async () => t?.close());

test('a contact who never changed anything: empty list, 404 Marketing preference not found', async () => {
  assert.deepEqual(ok(LIST, await list(QUIET)), []);
  notFound(GET, await get(QUIET, NUMBER_A), 'Marketing preference not found');
});

test('a stop from Meta’s user_preferences webhook', async () => {
  const at = minutesAgo(30);
  await preference(NUMBER_A, { wa_id: ALICE, value: 'stop', detail: 'User requested to stop marketing messages', timestamp: at });
  const entries = ok(LIST, await list(ALICE));
  assert.equal(entries.length, 1);
  const entry = entries[0];
  assert.deepEqual(
    { ...entry, created_at: undefined, updated_at: undefined },
    {
      id: NUMBER_A,
      phone_number_id: NUMBER_A,
      status: 'stopped',
      detail: 'User requested to stop marketing messages',
      source: 'meta_webhook',
      marketing_allowed: false,
      config_display_name: 'Support line',
      last_event_at: new Date(at * 1000).toISOString().replace('.000Z', '.000000Z'),
      whatsapp_contact_id: aliceId,
      created_at: undefined,
      updated_at: undefined,
    },
  );
  assert.match(entry.created_at, ISO_MICROS);
  assert.match(entry.updated_at, ISO_MICROS);
  assert.deepEqual(ok(GET, await get(ALICE, NUMBER_A)), entry);
  notFound(GET, await get(ALICE, NUMBER_B), 'Marketing preference not found');
});

test('every identifier form names the same contact', async () => {
  const expected = ok(LIST, await list(ALICE));
  for (const identifier of [aliceId, aliceId.toUpperCase(), '+1 555-000-7777', `+${ALICE}`, BSUID]) {
    assert.deepEqual(ok(LIST, await list(identifier)), expected, identifier);
    assert.deepEqual(ok(GET, await get(identifier, NUMBER_A)), expected[0], identifier);
  }
});

test('a resume replaces the stop; an older event arriving late does not', async () => {
  await preference(NUMBER_A, { wa_id: ALICE, value: 'resume', timestamp: minutesAgo(20) });
  const resumed = ok(GET, await get(ALICE, NUMBER_A));
  assert.equal(resumed.status, 'resumed');
  assert.equal(resumed.marketing_allowed, true);
  assert.equal(resumed.detail, null);
  await preference(NUMBER_A, { wa_id: ALICE, value: 'stop', timestamp: minutesAgo(25) });
  assert.equal(ok(GET, await get(ALICE, NUMBER_A)).status, 'resumed');
});

test('one entry per number, the latest change first; a 131050 failure counts as a stop', async () => {
  await postWebhook(
    t,
    messagesChange(NUMBER_B, {
      statuses: [
        {
          id: 'wamid.outbound-1',
          status: 'failed',
          timestamp: String(minutesAgo(10)),
          recipient_id: ALICE,
          errors: [{ code: 131050, title: 'User has stopped marketing messages' }],
        },
      ],
    }),
  );
  await drain(t);
  const entries = ok(LIST, await list(ALICE));
  assert.deepEqual(
    entries.map((e: { id: string; status: string; source: string }) => [e.id, e.status, e.source]),
    [
      [NUMBER_B, 'stopped', 'meta_delivery_error'],
      [NUMBER_A, 'resumed', 'meta_webhook'],
    ],
  );
  const b = ok(GET, await get(ALICE, NUMBER_B));
  assert.equal(b.config_display_name, 'Sales line');
  assert.equal(b.detail, 'User has stopped marketing messages');
  assert.equal(b.marketing_allowed, false);
});

test('a preference from a user Parley had not seen creates the contact', async () => {
  await preference(NUMBER_A, { wa_id: BOB, value: 'stop', timestamp: minutesAgo(5) }, { profile: { name: 'Bob' }, wa_id: BOB });
  assert.equal(ok(GET, await get(BOB, NUMBER_A)).status, 'stopped');
});

test('unknown contact, unknown number, disconnected number: 404s that tell them apart', async () => {
  for (const identifier of ['15550000000', '9b2f3c1e-1111-4222-8333-944455556666', 'US.nobody', 'not a number']) {
    notFound(LIST, await list(identifier), 'Contact not found');
    notFound(GET, await get(identifier, NUMBER_A), 'WhatsApp contact not found');
  }
  notFound(GET, await get(ALICE, '999999'), 'WhatsApp configuration not found');

  await preference(NUMBER_GONE, { wa_id: ALICE, value: 'stop', timestamp: minutesAgo(3) });
  assert.equal(ok(GET, await get(ALICE, NUMBER_GONE)).status, 'stopped');
  const deleted = await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/phone_numbers/${NUMBER_GONE}` });
  assert.equal(deleted.status, 204, deleted.text);
  notFound(GET, await get(ALICE, NUMBER_GONE), 'WhatsApp configuration not found');
  assert.ok(!ok(LIST, await list(ALICE)).some((e: { id: string }) => e.id === NUMBER_GONE));
});

// Its own number, so that it does not rest on what the test above left behind.
test('a stop survives disconnecting and connecting the same number again', async () => {
  await connectNumber(t, { phoneNumberId: NUMBER_AGAIN, name: 'Old line' });
  await preference(NUMBER_AGAIN, { wa_id: ALICE, value: 'stop', timestamp: minutesAgo(3) });
  const deleted = await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/phone_numbers/${NUMBER_AGAIN}` });
  assert.equal(deleted.status, 204, deleted.text);
  await connectNumber(t, { phoneNumberId: NUMBER_AGAIN, name: 'Old line, again' });
  const entry = ok(GET, await get(ALICE, NUMBER_AGAIN));
  assert.equal(entry.status, 'stopped');
  assert.equal(entry.marketing_allowed, false);
  assert.equal(entry.config_display_name, 'Old line, again');
});

test('another project sees neither the contact nor the preference', async () => {
  notFound(LIST, await list(ALICE, t.otherKey), 'Contact not found');
  notFound(LIST, await list(aliceId, t.otherKey), 'Contact not found');
  notFound(GET, await get(ALICE, NUMBER_A, t.otherKey), 'WhatsApp contact not found');
  // Alice is a contact of beta too once she writes to beta's number; alpha's numbers stay unknown there.
  await inboundText(t, { phoneNumberId: NUMBER_BETA, from: ALICE, name: 'Alice', text: 'hi beta', timestamp: minutesAgo(2) });
  assert.deepEqual(ok(LIST, await list(ALICE, t.otherKey)), []);
  notFound(GET, await get(ALICE, NUMBER_A, t.otherKey), 'WhatsApp configuration not found');
  notFound(GET, await get(ALICE, NUMBER_BETA), 'WhatsApp configuration not found');
});

test('without a key: 401', async () => {
  for (const response of [await t.request({ method: 'GET', url: listUrl(ALICE), key: null }), await t.request({ method: 'GET', url: `${listUrl(ALICE)}/${NUMBER_A}`, key: null })]) {
    assert.equal(response.status, 401, response.text);
    kapso.assertComponent('ErrorResponse', response.body);
  }
});

test('an erased contact is not found', async () => {
  const erased = await t.request({ method: 'DELETE', url: `${CONTACTS}/${BOB}` });
  assert.equal(erased.status, 204, erased.text);
  notFound(LIST, await list(BOB), 'Contact not found');
  notFound(GET, await get(BOB, NUMBER_A), 'WhatsApp contact not found');
});
