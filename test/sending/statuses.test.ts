// Meta's status webhooks on messages Parley sent: forward only, in any order, parked when they
// beat the send's own recording, failures with Meta's error kept, and an event per step.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deliver, drain, freshUser, statusBody } from '../helpers/meta.ts';
import { type SendWorld, sendWorld } from './helpers.ts';

describe('statuses of sent messages', () => {
  let w: SendWorld;

  before(async () => {
    w = await sendWorld();
  });
  after(async () => {
    await w.close();
  });

  async function sendText(waId: string): Promise<string> {
    const response = await w.send({ to: waId, text: { body: 'status test' } });
    assert.equal(response.status, 200, response.text);
    return response.body.messages[0].id;
  }

  async function status(wamid: string, waId: string, name: 'sent' | 'delivered' | 'read' | 'failed_131050', at = new Date()) {
    await deliver(w.t, statusBody(w.number.phoneNumberId, name, { wamid, waId, at }));
    await drain(w.t.database.db);
  }

  const message = async (wamid: string) => {
    const response = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(wamid)}` });
    assert.equal(response.status, 200, response.text);
    return response.body.data;
  };

  const eventsOf = async (wamid: string) => (await w.events()).filter((e) => e.subject.wamid === wamid).map((e) => e.event);

  test('sent → delivered → read moves the message forward, with an event for each step', async () => {
    const { waId } = freshUser();
    const wamid = await sendText(waId);
    await status(wamid, waId, 'sent');
    assert.equal((await message(wamid)).kapso.status, 'sent');
    await status(wamid, waId, 'delivered');
    assert.equal((await message(wamid)).kapso.status, 'delivered');
    await status(wamid, waId, 'read');
    const read = await message(wamid);
    assert.equal(read.kapso.status, 'read');
    assert.deepEqual(
      read.kapso.statuses.map((s: any) => s.status),
      ['sent', 'delivered', 'read'],
    );
    // The send itself raised `sent`; Meta's own `sent` changes nothing and raises nothing more.
    assert.deepEqual(await eventsOf(wamid), ['whatsapp.message.sent', 'whatsapp.message.delivered', 'whatsapp.message.read']);
  });

  test('read before delivered: the message stays read', async () => {
    const { waId } = freshUser();
    const wamid = await sendText(waId);
    await status(wamid, waId, 'read');
    await status(wamid, waId, 'delivered');
    const stored = await message(wamid);
    assert.equal(stored.kapso.status, 'read');
    assert.equal(stored.kapso.statuses.length, 2);
    assert.deepEqual(await eventsOf(wamid), ['whatsapp.message.sent', 'whatsapp.message.read']);
  });

  test("a status that arrives before the send is recorded is parked, then applied when the message is stored", async () => {
    const { waId } = freshUser();
    // Meta's status webhook can reach Parley before Meta's answer to the send does: the status of a
    // wamid Parley has not stored comes first, then a send that the stand-in answers with that wamid.
    const early = `wamid.HBgLearly${Date.now()}`;
    await status(early, waId, 'delivered');
    const parked = await w.t.database.db.selectFrom('pending_statuses').select('wamid').where('wamid', '=', early).execute();
    assert.equal(parked.length, 1);
    w.graph.setFault({
      kind: 'error',
      status: 200,
      body: { messaging_product: 'whatsapp', contacts: [{ input: waId, wa_id: waId }], messages: [{ id: early }] },
      times: 1,
      match: '/messages',
    });
    const response = await w.send({ to: waId, text: { body: 'raced its status' } });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.messages[0].id, early);
    const stored = await message(early);
    assert.equal(stored.kapso.status, 'delivered');
    assert.equal(stored.kapso.direction, 'outbound');
    assert.equal((await w.t.database.db.selectFrom('pending_statuses').select('wamid').where('wamid', '=', early).execute()).length, 0);
  });

  test("failed: Meta's error code and title are in the message's statuses, and whatsapp.message.failed fires", async () => {
    const { waId } = freshUser();
    const wamid = await sendText(waId);
    await status(wamid, waId, 'sent');
    await status(wamid, waId, 'failed_131050');
    const failed = await message(wamid);
    assert.equal(failed.kapso.status, 'failed');
    const last = failed.kapso.statuses.at(-1);
    assert.equal(last.status, 'failed');
    assert.equal(last.errors[0].code, 131050);
    assert.match(last.errors[0].title, /stop receiving marketing messages/);
    assert.deepEqual(await eventsOf(wamid), ['whatsapp.message.sent', 'whatsapp.message.failed']);
    // A late delivered does not revive it.
    await status(wamid, waId, 'delivered');
    assert.equal((await message(wamid)).kapso.status, 'failed');
    // The delivery error also stops marketing to this person on this number.
    const contact = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${waId}/marketing_preferences/${w.number.phoneNumberId}` });
    assert.equal(contact.status, 200, contact.text);
    assert.equal(contact.body.data.status, 'stopped');
    assert.equal(contact.body.data.source, 'meta_delivery_error');
  });

  test('a failed status filters the messages list', async () => {
    const failed = await w.messages('&status=failed');
    assert.ok(failed.length >= 1);
    assert.ok(failed.every((m: any) => m.kapso.status === 'failed' && m.kapso.direction === 'outbound'));
  });
});
