// The marketing check of the send path: a MARKETING template to a person who stopped marketing
// from this number is refused before Meta sees it; everything else goes to Meta. Meta is asked
// for a template's category only when the answer matters (a stopped person, an uncached template).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectNumber, deliver, drain, freshUser, preferenceBody } from '../helpers/meta.ts';
import { type SendWorld, sendWorld } from './helpers.ts';

describe('marketing preferences on sends', () => {
  let w: SendWorld;
  const stopped = freshUser();
  const listening = freshUser();

  before(async () => {
    w = await sendWorld();
    w.graph.addTemplate({ name: 'spring_sale', language: 'en_US', category: 'MARKETING' });
    w.graph.addTemplate({ name: 'spring_sale', language: 'es_ES', category: 'MARKETING' });
    w.graph.addTemplate({ name: 'receipt', language: 'en_US', category: 'UTILITY' });
    await deliver(w.t, preferenceBody(w.number.phoneNumberId, 'stop', { ...stopped, at: new Date(Date.now() - 60_000) }));
    await drain(w.t.database.db);
  });
  after(async () => {
    await w.close();
  });

  const template = (name: string, language = 'en_US') => ({ type: 'template', template: { name, language: { code: language } } });
  const templateLookups = () => w.graph.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/message_templates')).length;

  test('a marketing template to a stopped contact: 422 marketing_preference_stopped, and Meta receives no send', async () => {
    const sends = w.sendCalls();
    const lookups = templateLookups();
    const response = await w.send({ to: stopped.waId, ...template('spring_sale') });
    assert.equal(response.status, 422, response.text);
    assert.deepEqual(Object.keys(response.body).sort(), ['code', 'error']);
    assert.equal(response.body.code, 'marketing_preference_stopped');
    assert.match(response.body.error, /spring_sale/);
    assert.equal(w.sendCalls(), sends);
    // The category came from Meta once (nothing was cached) …
    assert.equal(templateLookups(), lookups + 1);
    // … and is cached now: the second refusal asks Meta nothing.
    const again = await w.send({ recipient: stopped.bsuid, ...template('spring_sale') });
    assert.equal(again.status, 422, again.text);
    assert.equal(templateLookups(), lookups + 1);
    assert.equal(w.sendCalls(), sends);
    const cached = await w.t.database.db.selectFrom('whatsapp_templates').select(['name', 'language', 'category']).where('name', '=', 'spring_sale').orderBy('language').execute();
    assert.deepEqual(cached, [
      { name: 'spring_sale', language: 'en_US', category: 'MARKETING' },
      { name: 'spring_sale', language: 'es_ES', category: 'MARKETING' },
    ]);
  });

  test('a utility template, a plain text and an unknown template to the stopped contact go to Meta', async () => {
    for (const body of [template('receipt'), { type: 'text', text: { body: 'Your receipt' } }, template('not_in_meta')]) {
      const sends = w.sendCalls();
      const response = await w.send({ to: stopped.waId, ...body });
      assert.equal(response.status, 200, response.text);
      assert.equal(w.sendCalls(), sends + 1);
    }
  });

  test('a marketing template to someone who did not stop goes to Meta without a category lookup', async () => {
    const lookups = templateLookups();
    const response = await w.send({ to: listening.waId, ...template('spring_sale', 'es_ES') });
    assert.equal(response.status, 200, response.text);
    assert.equal(templateLookups(), lookups);
    const [message] = await w.messages(`&phone_number=${listening.waId}`);
    assert.equal(message.type, 'template');
    assert.equal(message.kapso.content, 'spring_sale');
  });

  test('after the contact resumes, the marketing template goes out', async () => {
    await deliver(w.t, preferenceBody(w.number.phoneNumberId, 'resume', { ...stopped, at: new Date() }));
    await drain(w.t.database.db);
    const sends = w.sendCalls();
    const response = await w.send({ to: stopped.waId, ...template('spring_sale') });
    assert.equal(response.status, 200, response.text);
    assert.equal(w.sendCalls(), sends + 1);
  });

  test('a stop is per number: the same person is refused on the number they stopped and not on another', async () => {
    const person = freshUser();
    const second = await connectNumber(w.t);
    await deliver(w.t, preferenceBody(second.phoneNumberId, 'stop', { ...person, at: new Date() }));
    await drain(w.t.database.db);
    const fromSecond = await w.send({ to: person.waId, ...template('spring_sale') }, { phoneNumberId: second.phoneNumberId });
    assert.equal(fromSecond.status, 422, fromSecond.text);
    const fromFirst = await w.send({ to: person.waId, ...template('spring_sale') });
    assert.equal(fromFirst.status, 200, fromFirst.text);
  });
});
