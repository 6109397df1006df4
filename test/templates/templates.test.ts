// The template routes of the proxy forward to Meta and keep what Meta answers in the template
// cache; Meta's template webhooks (WABA-level, no phone number) update it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listCachedTemplates } from '../../src/templates/repo.ts';
import { deliver, drain } from '../helpers/meta.ts';
import { NUMBER_TOKEN, type SendWorld, sendWorld } from '../sending/helpers.ts';

const WABA = '102290129340398';

function templateWebhook(field: string, value: Record<string, unknown>, waba = WABA) {
  return { object: 'whatsapp_business_account', entry: [{ id: waba, time: Math.floor(Date.now() / 1000), changes: [{ field, value }] }] };
}

describe('the template cache', () => {
  let w: SendWorld;
  const cached = () => listCachedTemplates(w.t.database.db, w.projectId, WABA);
  const proxy = (method: 'GET' | 'POST' | 'DELETE', path: string, options: { body?: unknown; key?: string } = {}) =>
    w.t.request({ method, url: `/meta/whatsapp/v23.0/${path}`, body: options.body, key: options.key });

  before(async () => {
    w = await sendWorld();
    w.graph.addTemplate({ id: '7001', name: 'welcome', language: 'en_US', category: 'UTILITY', components: [{ type: 'BODY', text: 'Hi {{1}}' }] });
    w.graph.addTemplate({ id: '7002', name: 'welcome', language: 'de_DE', category: 'UTILITY' });
    w.graph.addTemplate({ id: '7003', name: 'flash_sale', language: 'en_US', category: 'MARKETING' });
  });
  after(async () => {
    await w.close();
  });

  test("listing forwards the query, relays Meta's page with paging rewritten, and caches every template on it", async () => {
    const response = await proxy('GET', `${WABA}/message_templates?limit=2`);
    assert.equal(response.status, 200, response.text);
    assert.ok(!response.text.includes(NUMBER_TOKEN));
    assert.equal(response.body.data.length, 2);
    assert.match(response.body.paging.next, /^http:\/\/localhost:80\/meta\/whatsapp\/v23\.0\/102290129340398\/message_templates\?/);
    assert.equal(w.graph.requests.at(-1)!.query.limit, '2');
    const next = await w.t.request({ method: 'GET', url: response.body.paging.next.replace('http://localhost:80', '') });
    assert.equal(next.status, 200, next.text);
    const rows = await cached();
    assert.deepEqual(
      rows.map((r) => [r.template_id, r.name, r.language, r.category, r.status]),
      [
        ['7003', 'flash_sale', 'en_US', 'MARKETING', 'APPROVED'],
        ['7002', 'welcome', 'de_DE', 'UTILITY', 'APPROVED'],
        ['7001', 'welcome', 'en_US', 'UTILITY', 'APPROVED'],
      ],
    );
    assert.deepEqual(rows.find((r) => r.template_id === '7001')!.components, [{ type: 'BODY', text: 'Hi {{1}}' }]);
  });

  test("creating forwards and caches Meta's id, status and category with the request's name, language and components", async () => {
    const components = [{ type: 'BODY', text: 'Your code is {{1}}' }];
    const response = await proxy('POST', `${WABA}/message_templates`, { body: { name: 'login_code', language: 'en_US', category: 'AUTHENTICATION', components } });
    assert.equal(response.status, 200, response.text);
    const row = (await cached()).find((r) => r.name === 'login_code');
    assert.ok(row, 'the created template is cached');
    assert.equal(row.template_id, String(response.body.id));
    assert.equal(row.category, String(response.body.category).toUpperCase());
    assert.deepEqual(row.components, components);
  });

  test('deleting by name forwards and removes the cached rows of that name', async () => {
    const response = await proxy('DELETE', `${WABA}/message_templates?name=welcome`);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { success: true });
    assert.deepEqual((await cached()).filter((r) => r.name === 'welcome'), []);
  });

  test("Meta's status and category webhooks update the cache of the WABA's project", async () => {
    await deliver(w.t, templateWebhook('message_template_status_update', { event: 'PAUSED', message_template_id: 7003, message_template_name: 'flash_sale', message_template_language: 'en_US', reason: null }));
    await deliver(w.t, templateWebhook('template_category_update', { message_template_id: 7003, message_template_name: 'flash_sale', message_template_language: 'en_US', previous_category: 'MARKETING', new_category: 'UTILITY' }));
    // A template the cache has not seen yet is stored with what the webhook says.
    await deliver(w.t, templateWebhook('message_template_status_update', { event: 'APPROVED', message_template_id: 7999, message_template_name: 'fresh_one', message_template_language: 'fr_FR' }));
    await drain(w.t.database.db);
    const rows = await cached();
    const flash = rows.find((r) => r.template_id === '7003')!;
    assert.equal(flash.status, 'PAUSED');
    assert.equal(flash.category, 'UTILITY');
    assert.deepEqual(flash.components, [{ type: 'BODY', text: 'Hello from the sandbox' }]);
    const fresh = rows.find((r) => r.template_id === '7999')!;
    assert.deepEqual([fresh.name, fresh.language, fresh.status], ['fresh_one', 'fr_FR', 'APPROVED']);
    const events = await w.t.database.db.selectFrom('meta_events').select(['state', 'note']).orderBy('id', 'desc').limit(3).execute();
    assert.ok(events.every((e) => e.state === 'processed'), JSON.stringify(events));
  });

  test('a template webhook for a WABA no project has connected is skipped with a note', async () => {
    await deliver(w.t, templateWebhook('message_template_status_update', { event: 'APPROVED', message_template_id: 1, message_template_name: 'x', message_template_language: 'en_US' }, '999000999000'));
    await drain(w.t.database.db);
    const [event] = await w.t.database.db.selectFrom('meta_events').select(['state', 'note']).orderBy('id', 'desc').limit(1).execute();
    assert.equal(event!.state, 'skipped');
    assert.match(event!.note ?? '', /999000999000/);
  });

  test("another project's key cannot list or create this WABA's templates: 404, nothing forwarded", async () => {
    const calls = w.graph.requests.length;
    const list = await proxy('GET', `${WABA}/message_templates`, { key: w.t.otherKey });
    assert.equal(list.status, 404);
    const create = await proxy('POST', `${WABA}/message_templates`, { key: w.t.otherKey, body: { name: 'theirs', language: 'en_US', category: 'UTILITY', components: [] } });
    assert.equal(create.status, 404);
    assert.equal(w.graph.requests.length, calls);
  });
});
