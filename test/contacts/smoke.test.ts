import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

test('create then get a contact by any written form of its number', async () => {
  const created = await t.request({ method: 'POST', url: '/platform/v1/whatsapp/contacts', body: { contact: { wa_id: '+1 555-123-4567' } } });
  assert.equal(created.status, 201);
  assert.equal(created.body.data.wa_id, '15551234567');
  const got = await t.request({ method: 'GET', url: '/platform/v1/whatsapp/contacts/%2B15551234567' });
  assert.equal(got.status, 200);
  assert.equal(got.body.data.id, created.body.data.id);
});
