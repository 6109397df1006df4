// Sends through the proxy: Meta's answer comes back as Meta gave it, and what Meta accepted is
// recorded as an outbound message in the same tables as inbound traffic (contact, conversation,
// counters, events). Read receipts and refusals record nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { triggerRecipient } from '../../src/sandbox/triggers.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';
import { connectNumber, freshUser } from '../helpers/meta.ts';
import { NUMBER_TOKEN, type SendWorld, sendWorld } from './helpers.ts';

const kapso = kapsoChecksAlongside('Messages recorded from sends');

describe('sending through the proxy', () => {
  let w: SendWorld;

  before(async () => {
    w = await sendWorld();
  });
  after(async () => {
    for (const answer of w.answers) assert.ok(!answer.text.includes(NUMBER_TOKEN), `the number's token leaked in ${answer.text}`);
    await w.close();
  });

  test("a text to an unknown number: Meta's answer verbatim, the message recorded with a new contact and conversation", async () => {
    const user = freshUser();
    const response = await w.send({ to: `+${user.waId}`, type: 'text', text: { body: 'Your order has shipped' } });
    assert.equal(response.status, 200, response.text);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const wamid = response.body.messages[0].id;
    assert.match(wamid, /^wamid\./);
    assert.deepEqual(response.body.contacts, [{ input: `+${user.waId}`, wa_id: user.waId }]);
    // The stand-in's bytes, not a re-serialisation of them.
    const call = w.graph.requests.at(-1)!;
    assert.equal(call.headers.authorization, `Bearer ${NUMBER_TOKEN}`);

    const [message] = await w.messages();
    assert.equal(message.id, wamid);
    assert.equal(message.type, 'text');
    assert.deepEqual(message.text, { body: 'Your order has shipped' });
    assert.equal(message.to, user.waId);
    assert.equal(message.kapso.direction, 'outbound');
    assert.equal(message.kapso.status, 'sent');
    assert.equal(message.kapso.content, 'Your order has shipped');
    assert.equal(message.kapso.phone_number, user.waId);
    kapso.assertComponent('WhatsappMessage', message);

    const contact = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${user.waId}` });
    assert.equal(contact.status, 200, contact.text);
    assert.equal(contact.body.data.wa_id, user.waId);

    const conversation = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations/${message.kapso.whatsapp_conversation_id}` });
    assert.equal(conversation.status, 200, conversation.text);
    assert.equal(conversation.body.data.kapso.messages_count, 1);
    assert.equal(conversation.body.data.kapso.last_message_id, wamid);
    assert.equal(typeof conversation.body.data.kapso.last_outbound_at, 'string');
    assert.equal(conversation.body.data.kapso.last_inbound_at ?? null, null);

    const events = (await w.events()).filter((e) => e.subject.wamid === wamid || e.subject.conversation_id === message.kapso.whatsapp_conversation_id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['whatsapp.conversation.created', 'whatsapp.message.sent'],
    );
    assert.equal(events[1]!.subject.is_new_conversation, true);
  });

  test('image, template and interactive sends to one person share a conversation and say what they were', async () => {
    const user = freshUser();
    const sends = [
      { type: 'image', image: { link: 'https://example.com/cat.jpg', caption: 'A cat' }, content: 'A cat' },
      { type: 'template', template: { name: 'order_update', language: { code: 'en_US' }, components: [] }, content: 'order_update' },
      {
        type: 'interactive',
        interactive: { type: 'button', body: { text: 'Pick one' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] } },
        content: 'Pick one',
      },
    ];
    const wamids: string[] = [];
    for (const { content: _content, ...body } of sends) {
      const response = await w.send({ to: user.waId, ...body });
      assert.equal(response.status, 200, response.text);
      wamids.push(response.body.messages[0].id);
    }
    const recorded = (await w.messages(`&phone_number=${user.waId}`)).reverse();
    assert.deepEqual(
      recorded.map((m: any) => [m.id, m.type, m.kapso.content, m.kapso.has_media]),
      sends.map((s, i) => [wamids[i], s.type, s.content, s.type === 'image']),
    );
    assert.deepEqual(recorded[0].image, sends[0]!.image);
    assert.equal(recorded[1].template.name, 'order_update');
    assert.equal(recorded[2].interactive.type, 'button');
    assert.equal(new Set(recorded.map((m: any) => m.kapso.whatsapp_conversation_id)).size, 1);
    for (const message of recorded) kapso.assertComponent('WhatsappMessage', message);
    const conversation = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations/${recorded[0].kapso.whatsapp_conversation_id}` });
    assert.equal(conversation.body.data.kapso.messages_count, 3);
    assert.equal(conversation.body.data.kapso.last_message_id, wamids[2]);
  });

  test('a reply to an inbound conversation lands in it', async () => {
    const user = freshUser();
    const first = await w.send({ to: user.waId, text: { body: 'one' } });
    const second = await w.send({ to: user.waId, text: { body: 'two' }, context: { message_id: first.body.messages[0].id } });
    assert.equal(second.status, 200, second.text);
    const [latest, earlier] = await w.messages(`&phone_number=${user.waId}`);
    assert.equal(latest.kapso.whatsapp_conversation_id, earlier.kapso.whatsapp_conversation_id);
    assert.deepEqual(latest.context, { message_id: first.body.messages[0].id });
  });

  test('a send to a business-scoped user id is recorded on that contact', async () => {
    const user = freshUser();
    const response = await w.send({ recipient: user.bsuid, text: { body: 'by BSUID' } });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body.contacts, [{ input: user.bsuid, user_id: user.bsuid }]);
    const [message] = await w.messages(`&business_scoped_user_id=${encodeURIComponent(user.bsuid)}`);
    assert.equal(message.id, response.body.messages[0].id);
    assert.equal(message.to_user_id, user.bsuid);
  });

  test('mark-as-read and typing are forwarded and answered {success:true}, with no message recorded', async () => {
    const before = (await w.messages()).length;
    const calls = w.graph.requests.length;
    for (const extra of [{}, { typing_indicator: { type: 'text' } }]) {
      const response = await w.send({ status: 'read', message_id: 'wamid.HBgLinbound', ...extra });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, { success: true });
      assert.match(String(response.headers['content-type']), /^application\/json/);
    }
    assert.equal(w.graph.requests.length, calls + 2);
    assert.equal((w.graph.requests.at(-1)!.body as any).typing_indicator.type, 'text');
    assert.equal((await w.messages()).length, before);
  });

  test("Meta's refusals come back unchanged with Meta's status, and nothing is recorded", async () => {
    const before = (await w.messages()).length;
    const missing = await w.send({ to: freshUser().waId, type: 'text', text: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 100);
    assert.equal(missing.body.error.type, 'OAuthException');
    const limited = await w.send({ to: triggerRecipient('rateLimited'), text: { body: 'hi' } });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 130429);
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal((await w.messages()).length, before);
  });

  test('a synchronous 131050 records a stopped marketing preference and answers with Meta\'s error', async () => {
    const to = triggerRecipient('marketingStopped');
    const response = await w.send({ to, type: 'template', template: { name: 'spring_sale', language: { code: 'en_US' } } });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 131050);
    // The trigger number is not a dialable one, so the contact is named by its id.
    const contact = await w.t.database.db.selectFrom('contacts').select('id').where('wa_id', '=', to).executeTakeFirstOrThrow();
    const preference = await w.t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${contact.id}/marketing_preferences/${w.number.phoneNumberId}` });
    assert.equal(preference.status, 200, preference.text);
    assert.equal(preference.body.data.status, 'stopped');
    assert.equal(preference.body.data.source, 'meta_synchronous_error');
  });

  test('a body that is not a JSON object is refused in Meta\'s shape, with nothing forwarded', async () => {
    const calls = w.sendCalls();
    const response = await w.t.request({ method: 'POST', url: `/meta/whatsapp/v23.0/${w.number.phoneNumberId}/messages`, body: ['not', 'an', 'object'] });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 100);
    assert.equal(w.sendCalls(), calls);
  });

  test("another project's key cannot send from this number: 404, nothing forwarded", async () => {
    const calls = w.graph.requests.length;
    const response = await w.send({ to: freshUser().waId, text: { body: 'not yours' } }, { key: w.t.otherKey });
    assert.equal(response.status, 404);
    assert.equal(response.body.error.error_subcode, 33);
    const theirs = await connectNumber(w.t, { key: w.t.otherKey });
    const cross = await w.send({ to: freshUser().waId, text: { body: 'not yours' } }, { phoneNumberId: theirs.phoneNumberId });
    assert.equal(cross.status, 404);
    assert.equal(w.graph.requests.length, calls);
  });

  test('Meta unreachable: a Meta-shaped 502 and nothing recorded', async () => {
    const before = (await w.messages()).length;
    w.graph.setFault({ kind: 'down', times: 1, match: '/messages' });
    const response = await w.send({ to: freshUser().waId, text: { body: 'lost' } });
    assert.equal(response.status, 502, response.text);
    assert.equal(response.body.error.code, 2);
    assert.equal((await w.messages()).length, before);
  });
});
