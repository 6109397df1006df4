// Kapso's own SDK, unmodified, against a real listening Parley and the stand-in Graph API: every
// message type it can send, media, templates, the Kapso extensions, Meta's errors as the SDK's
// GraphApiError, on the SDK's default version and on Kapso's documented one. Every response
// body and log line of the run is scanned for the number's access token at the end.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GraphApiError, WhatsAppClient } from '@kapso/whatsapp-cloud-api';
import pino from 'pino';
import { ApiLogRecorder } from '../../src/api-logs/recorder.ts';
import { createKey } from '../../src/projects/service.ts';
import { SANDBOX_TRIGGERS } from '../../src/sandbox/triggers.ts';
import { type StandInGraph, startStandInGraph } from '../../src/sandbox/graph-server.ts';
import { startTestApp, TEST_META_APP_SECRET, type TestApp } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber, drain } from '../helpers/meta.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/process.ts';

const TOKEN = 'EAAG-test-token';

describe("Kapso's SDK against Parley", () => {
  let t: TestApp;
  let graph: StandInGraph;
  let number: ConnectedNumber;
  let base: string;
  let client: WhatsAppClient;
  let apiLog: ApiLogRecorder;
  let database: TestDatabase;
  let sdkKey: string;
  const logLines: string[] = [];
  const bodies: string[] = [];

  /** The SDK's fetch, keeping every response body for the token scan. */
  const recordingFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const copy = response.clone();
    bodies.push(Buffer.from(await copy.arrayBuffer()).toString('latin1'));
    return response;
  };

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    graph = await startStandInGraph({ webhook: { url: `${base}/webhooks/meta`, appSecret: TEST_META_APP_SECRET }, statusDelayMs: 5 });
    const sink = new Writable({ write(chunk, _encoding, done) { logLines.push(String(chunk)); done(); } });
    const logger = pino({ level: 'debug' }, sink);
    database = await createTestDatabase();
    apiLog = new ApiLogRecorder(database.db, logger);
    t = await startTestApp({ database, metaGraphUrl: graph.url, logger, apiLog });
    await t.app.listen({ port, host: '127.0.0.1' });
    number = await connectNumber(t);
    sdkKey = (await createKey(t.database.db, 'alpha', { name: 'SDK integration' })).key;
    client = new WhatsAppClient({ baseUrl: `${base}/meta/whatsapp`, kapsoApiKey: sdkKey, fetch: recordingFetch });
  });

  after(async () => {
    await t.close();
    await apiLog.close();
    await database.drop();
    await graph.close();
  });

  const outbound = async () => (await t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages?direction=outbound&phone_number_id=${number.phoneNumberId}&per_page=100` })).body.data as any[];
  const to = (n: number) => `1555010${String(n).padStart(4, '0')}`;

  test('a text message is sent, recorded on its conversation, and its statuses arrive up to read', async () => {
    const sent = await client.messages.sendText({ phoneNumberId: number.phoneNumberId, to: to(1), body: 'Hello from the SDK' });
    const wamid = sent.messages[0]!.id;
    assert.match(wamid, /^wamid\./);
    assert.equal(sent.contacts[0]!.waId, to(1));
    const message = (await outbound()).find((m) => m.id === wamid);
    assert.ok(message, 'the sent message is listed at once');
    assert.equal(message.type, 'text');
    assert.equal(message.text.body, 'Hello from the SDK');
    assert.equal(message.kapso.direction, 'outbound');
    const conversations = (await t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations?phone_number_id=${number.phoneNumberId}` })).body.data as any[];
    const conversation = conversations.find((c) => c.id === message.kapso.whatsapp_conversation_id);
    assert.ok(conversation?.kapso?.last_outbound_at ?? conversation?.last_outbound_at, 'the conversation knows its last outbound message');

    await graph.idle();
    await drain(t.database.db);
    const after = (await outbound()).find((m) => m.id === wamid);
    assert.equal(after.kapso.status, 'read');
  });

  test('every message type the SDK sends is accepted and recorded with its type', async () => {
    const pnid = number.phoneNumberId;
    const calls: [string, () => Promise<{ messages: { id: string }[] }>][] = [
      ['image', () => client.messages.sendImage({ phoneNumberId: pnid, to: to(2), image: { link: 'https://example.com/a.jpg', caption: 'A picture' } })],
      ['document', () => client.messages.sendDocument({ phoneNumberId: pnid, to: to(2), document: { link: 'https://example.com/a.pdf', filename: 'a.pdf' } })],
      ['video', () => client.messages.sendVideo({ phoneNumberId: pnid, to: to(2), video: { link: 'https://example.com/a.mp4' } })],
      ['audio', () => client.messages.sendAudio({ phoneNumberId: pnid, to: to(2), audio: { link: 'https://example.com/a.ogg' } })],
      ['sticker', () => client.messages.sendSticker({ phoneNumberId: pnid, to: to(2), sticker: { link: 'https://example.com/a.webp' } })],
      ['location', () => client.messages.sendLocation({ phoneNumberId: pnid, to: to(2), location: { latitude: 52.52, longitude: 13.405, name: 'Office' } })],
      ['contacts', () => client.messages.sendContacts({ phoneNumberId: pnid, to: to(2), contacts: [{ name: { formattedName: 'Ada Lovelace' }, phones: [{ phone: '+15550102030', type: 'CELL' }] }] })],
      ['template', () => client.messages.sendTemplate({ phoneNumberId: pnid, to: to(2), template: { name: 'hello_world', language: { code: 'en_US' } } })],
      ['interactive', () => client.messages.sendInteractiveButtons({ phoneNumberId: pnid, to: to(2), bodyText: 'Pick one', buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }] })],
      ['interactive', () => client.messages.sendInteractiveList({ phoneNumberId: pnid, to: to(2), bodyText: 'Menu', buttonText: 'Open', sections: [{ title: 'Main', rows: [{ id: 'r1', title: 'Row 1' }] }] })],
      ['interactive', () => client.messages.sendInteractiveCtaUrl({ phoneNumberId: pnid, to: to(2), bodyText: 'See more', parameters: { displayText: 'Open', url: 'https://example.com' } })],
      ['interactive', () => client.messages.sendInteractiveFlow({ phoneNumberId: pnid, to: to(2), bodyText: 'Sign up', parameters: { flowId: '1234567890', flowCta: 'Start' } })],
      ['text', () => client.messages.sendRaw({ phoneNumberId: pnid, payload: { messagingProduct: 'whatsapp', to: to(2), type: 'text', text: { body: 'raw' } } })],
    ];
    const wamids: [string, string][] = [];
    for (const [type, call] of calls) wamids.push([type, (await call()).messages[0]!.id]);
    const first = await client.messages.sendText({ phoneNumberId: pnid, to: to(2), body: 'react to me' });
    const reaction = await client.messages.sendReaction({ phoneNumberId: pnid, to: to(2), reaction: { messageId: first.messages[0]!.id, emoji: '👍' } });
    wamids.push(['reaction', reaction.messages[0]!.id]);
    const listed = new Map((await outbound()).map((m) => [m.id, m]));
    for (const [type, wamid] of wamids) assert.equal(listed.get(wamid)?.type, type, `${type} message ${wamid} recorded`);
  });

  test('mark as read and the typing indicator answer success and record no message', async () => {
    const before = (await outbound()).length;
    const read = await client.messages.markRead({ phoneNumberId: number.phoneNumberId, messageId: 'wamid.FROMUSER', typingIndicator: { type: 'text' } });
    assert.deepEqual(read, { success: true });
    assert.equal((await outbound()).length, before);
  });

  test("Meta's refusals reach the SDK as GraphApiError with Meta's code", async () => {
    await assert.rejects(
      client.messages.sendText({ phoneNumberId: number.phoneNumberId, to: SANDBOX_TRIGGERS.reengagementWindow.example, body: 'late' }),
      (error: unknown) => error instanceof GraphApiError && error.code === 131047,
    );
    await assert.rejects(
      client.messages.sendText({ phoneNumberId: number.phoneNumberId, to: SANDBOX_TRIGGERS.rateLimited.example, body: 'fast' }),
      (error: unknown) => error instanceof GraphApiError && error.httpStatus === 429 && error.code === 130429,
    );
    const stranger = new WhatsAppClient({ baseUrl: `${base}/meta/whatsapp`, kapsoApiKey: t.otherKey });
    await assert.rejects(stranger.messages.sendText({ phoneNumberId: number.phoneNumberId, to: to(3), body: 'not mine' }), (error: unknown) => error instanceof GraphApiError && error.httpStatus === 404 && error.code === 100);
  });

  test('media: upload, metadata with a download link, download without credentials, delete', async () => {
    const bytes = Buffer.from('%PDF-1.4 a tiny document for the proxy');
    const uploaded = await client.media.upload({ phoneNumberId: number.phoneNumberId, type: 'application/pdf', file: new Blob([bytes], { type: 'application/pdf' }), fileName: 'tiny.pdf' });
    assert.ok(uploaded.id);
    const meta = await client.media.get({ mediaId: uploaded.id, phoneNumberId: number.phoneNumberId });
    assert.equal(meta.mimeType, 'application/pdf');
    assert.ok(meta.downloadUrl?.startsWith(`${base}/meta/whatsapp/media_download?token=`), String(meta.downloadUrl));
    const downloaded = (await client.media.download({ mediaId: uploaded.id, phoneNumberId: number.phoneNumberId })) as ArrayBuffer;
    assert.deepEqual(Buffer.from(downloaded), bytes);
    assert.deepEqual(await client.media.delete({ mediaId: uploaded.id, phoneNumberId: number.phoneNumberId }), { success: true });
  });

  test('templates: create, list with paging links that point at Parley, delete', async () => {
    const wabaId = '102290129340398';
    const created = await client.templates.create({
      businessAccountId: wabaId,
      name: 'order_update',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Your order {{1}} has shipped', example: { body_text: [['A-1']] } }],
    } as never);
    assert.ok(created.id);
    const listed = await client.templates.list({ businessAccountId: wabaId, limit: 1 });
    assert.ok(listed.data.length >= 1);
    if (listed.paging?.next) assert.ok(listed.paging.next.startsWith(`${base}/meta/whatsapp/`), listed.paging.next);
    const deleted = await client.templates.delete({ businessAccountId: wabaId, name: 'order_update' } as never);
    assert.equal((deleted as { success: boolean }).success, true);
  });

  test("the Kapso extensions: history, conversations and contacts from Parley's own data", async () => {
    const pnid = number.phoneNumberId;
    const history = await client.messages.query({ phoneNumberId: pnid, direction: 'outbound', limit: 5 });
    assert.equal(history.data.length, 5);
    assert.ok(history.data.every((m: any) => m.kapso?.direction === 'outbound'));
    const conversations = await client.conversations.list({ phoneNumberId: pnid, limit: 10 });
    assert.ok(conversations.data.length >= 1);
    const conversation = await client.conversations.get({ conversationId: conversations.data[0]!.id });
    assert.equal(conversation.id, conversations.data[0]!.id);
    await client.conversations.updateStatus({ conversationId: conversation.id, status: 'ended' });
    const platform = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/conversations/${conversation.id}` });
    assert.equal(platform.body.data.status, 'ended');
    const contacts = await client.contacts.list({ phoneNumberId: pnid, limit: 10 });
    assert.ok(contacts.data.some((c: any) => c.waId === to(1)));
    await client.contacts.update({ phoneNumberId: pnid, waId: to(1), displayName: 'Ada (SDK)', metadata: { planTier: 'gold' } } as never);
    const contact = await client.contacts.get({ phoneNumberId: pnid, waId: to(1) });
    assert.equal(contact.displayName, 'Ada (SDK)');
    const stored = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/contacts/${to(1)}` });
    assert.equal(stored.body.data.metadata.plan_tier, 'gold', 'stored as the SDK sent it: snake-cased');
    const calls = await client.calls.list({ phoneNumberId: pnid });
    assert.deepEqual(calls.data, []);
  });

  test("Kapso's documented version v24.0 works the same", async () => {
    const v24 = new WhatsAppClient({ baseUrl: `${base}/meta/whatsapp`, kapsoApiKey: sdkKey, graphVersion: 'v24.0', fetch: recordingFetch });
    const sent = await v24.messages.sendText({ phoneNumberId: number.phoneNumberId, to: to(4), body: 'on v24' });
    assert.ok(graph.requests.some((r) => r.path === `/v24.0/${number.phoneNumberId}/messages`));
    assert.ok((await outbound()).some((m) => m.id === sent.messages[0]!.id));
    const history = await v24.messages.query({ phoneNumberId: number.phoneNumberId, limit: 1 });
    assert.equal(history.data.length, 1);
  });

  test("the API log lists the SDK's requests under the key's name, and its filters work", async () => {
    await apiLog.flush();
    const all = await t.request({ method: 'GET', url: '/platform/v1/api_logs?limit=100' });
    assert.equal(all.status, 200, all.text);
    const sdkRows = (all.body.data as any[]).filter((row) => String(row.endpoint).startsWith('/meta/whatsapp/'));
    assert.ok(sdkRows.length > 10, `SDK requests logged: ${sdkRows.length}`);
    assert.ok(sdkRows.every((row) => row.api_key_name === 'SDK integration'), 'each row names the key');
    const errors = await t.request({ method: 'GET', url: '/platform/v1/api_logs?errors_only=true&limit=100' });
    assert.equal(errors.status, 200, errors.text);
    assert.ok(errors.body.data.length >= 2, 'the refusals are listed');
    assert.ok((errors.body.data as any[]).every((row) => row.response_status >= 400), 'errors only');
    for (const row of all.body.data as any[]) assert.ok(!JSON.stringify(row).includes(TOKEN), 'no token in the log');
  });

  test("the number's token reached Meta, and appears in no response and no log line", () => {
    assert.ok(graph.requests.length > 0);
    assert.ok(graph.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`), 'every call to Meta carried the number token');
    assert.ok(graph.requests.every((r) => r.headers['x-api-key'] === undefined && !JSON.stringify(r.headers).includes(sdkKey)), "the client's key never went upstream");
    assert.ok(bodies.length > 20);
    for (const body of bodies) assert.ok(!body.includes(TOKEN), `a response carried the token: ${body.slice(0, 200)}`);
    assert.ok(logLines.length > 20);
    for (const line of logLines) assert.ok(!line.includes(TOKEN), `a log line carried the token: ${line.slice(0, 200)}`);
  });
});
