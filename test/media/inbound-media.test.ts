// Media that users send: the inbound worker queues a fetch in the transaction that stores the
// message (batch path and general path), the media runner downloads the file from Meta into
// chunked storage, and the message then shows media_url / media_data, a link that serves the
// stored bytes without a key. A fetch that keeps failing is retried, then set aside with its
// error, without holding up the others.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JobRunner } from '../../src/jobs/runner.ts';
import { mediaJobRegistry } from '../../src/media/fetch-job.ts';
import { MEDIA_LINK_KEY_PURPOSE, MediaLinkSigner } from '../../src/media/link-signer.ts';
import { MEDIA_FETCH_JOB } from '../../src/media/repo.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';
import { connectNumber, type ConnectedNumber, deliver, drain, envelope, freshUser, silentLogger, unix, wamid } from '../helpers/meta.ts';
import { type MediaUpstream, patternChunk, startMediaUpstream } from './media-upstream.ts';

const kapso = kapsoChecksAlongside('Messages with stored media');

describe('inbound media', () => {
  let t: TestApp;
  let meta: MediaUpstream;
  let number: ConnectedNumber;

  before(async () => {
    meta = await startMediaUpstream();
    t = await startTestApp({ metaGraphUrl: meta.url });
    number = await connectNumber(t);
  });
  after(async () => {
    await t.close();
    await meta.close();
  });

  /** One user message of `type` carrying media `id`; with `status`, the body takes the general path. */
  function mediaBody(type: string, media: Record<string, unknown>, options: { withStatus?: boolean } = {}) {
    const user = freshUser();
    const id = wamid();
    const value: Record<string, unknown> = {
      contacts: [{ profile: { name: 'Ana' }, wa_id: user.waId }],
      messages: [{ id, from: user.waId, timestamp: unix(new Date()), type, [type]: media }],
    };
    if (options.withStatus) value.statuses = [{ id: wamid(), status: 'delivered', timestamp: unix(new Date()), recipient_id: user.waId }];
    return { body: envelope(number.phoneNumberId, 'messages', value), wamid: id };
  }

  const runner = (maxAttempts?: number) => new JobRunner(t.database.db, mediaJobRegistry({ db: t.database.db, graph: t.graph, logger: silentLogger }, { maxAttempts }), silentLogger, { pollMs: 50 });

  const jobsFor = (messageWamid: string) =>
    t.database.db
      .selectFrom('jobs')
      .innerJoin('messages', (join) => join.on((eb) => eb(eb.ref('messages.id'), '=', eb.fn('uuid', [eb.ref('jobs.payload', '->>').key('message_id' as never)]) as never)))
      .select(['jobs.attempts', 'jobs.last_error', 'jobs.failed_at'])
      .where('jobs.kind', '=', MEDIA_FETCH_JOB)
      .where('messages.wamid', '=', messageWamid)
      .execute();

  const message = async (id: string) => {
    const response = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(id)}` });
    assert.equal(response.status, 200, response.text);
    kapso.assertResponse('getWhatsappMessage', 200, response.body);
    return response.body.data;
  };

  test('an image is fetched in the background and served from storage by a link without a key', async () => {
    const bytes = patternChunk(11, 600 * 1024); // three chunks of storage
    meta.addMedia({ id: '8101', mimeType: 'image/jpeg', bytes });
    const { body, wamid: id } = mediaBody('image', { id: '8101', mime_type: 'image/jpeg', sha256: 'x', caption: 'a cat' });
    await deliver(t, body);
    await drain(t.database.db);
    assert.equal((await jobsFor(id)).length, 1, 'the batch path queued one fetch');

    const before = await message(id);
    assert.equal(before.kapso.has_media, true);
    assert.equal(before.kapso.media_url, undefined, 'no link before the file is stored');

    assert.ok((await runner().pass()) >= 1);
    assert.equal((await jobsFor(id)).length, 0, 'the job is done');
    const chunks = await t.database.db.selectFrom('media_chunks').innerJoin('media_files', 'media_files.id', 'media_chunks.file_id').select('seq').where('media_files.media_id', '=', '8101').execute();
    assert.equal(chunks.length, 3);

    const stored = await message(id);
    assert.match(stored.kapso.media_url, /^http:\/\/localhost(:\d+)?\/meta\/whatsapp\/media_download\?token=/);
    assert.deepEqual(stored.kapso.media_data, { url: stored.kapso.media_url, filename: 'image-8101.jpg', content_type: 'image/jpeg', byte_size: bytes.length });
    const listed = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages?phone_number_id=${number.phoneNumberId}` });
    assert.equal(listed.body.data.find((m: { id: string }) => m.id === id).kapso.media_url, stored.kapso.media_url, 'the same link in a list within the window');

    const link = new URL(stored.kapso.media_url);
    const served = await t.request({ method: 'GET', url: link.pathname + link.search, key: null });
    assert.equal(served.status, 200);
    assert.equal(served.headers['content-type'], 'image/jpeg');
    assert.equal(served.headers['content-length'], String(bytes.length));
    const raw = await t.app.inject({ method: 'GET', url: link.pathname + link.search });
    assert.ok(raw.rawPayload.equals(bytes), 'the stored bytes, unchanged');

    // The link names alpha's project: the same file under beta's is nothing.
    const beta = await t.database.db.selectFrom('projects').select('id').where('name', '=', 'beta').executeTakeFirstOrThrow();
    const fileId = link.searchParams.get('token')!;
    const claims = JSON.parse(Buffer.from(fileId.split('.')[0]!, 'base64url').toString());
    const forged = new MediaLinkSigner(t.cipher.deriveKey(MEDIA_LINK_KEY_PURPOSE)).sign({ kind: 'stored', projectId: beta.id, fileId: claims.f }, { ttlSeconds: 60 }).token;
    const refused = await t.request({ method: 'GET', url: `/meta/whatsapp/media_download?token=${forged}`, key: null });
    assert.equal(refused.status, 404);
  });

  test('a document on the general path keeps its filename; a redelivery queues nothing new', async () => {
    meta.addMedia({ id: '8102', mimeType: 'application/pdf', bytes: Buffer.from('%PDF-1.4 tiny') });
    const { body, wamid: id } = mediaBody('document', { id: '8102', mime_type: 'application/pdf', filename: 'Factura enero.pdf' }, { withStatus: true });
    await deliver(t, body);
    await drain(t.database.db);
    assert.equal((await jobsFor(id)).length, 1, 'the general path queued one fetch');
    await deliver(t, body);
    await drain(t.database.db);
    assert.equal((await jobsFor(id)).length, 1, 'the redelivery queued no second fetch');
    await runner().pass();
    const stored = await message(id);
    assert.equal(stored.kapso.media_data.filename, 'Factura enero.pdf');
    assert.equal(stored.kapso.media_data.byte_size, 13);
    const link = new URL(stored.kapso.media_url);
    const served = await t.request({ method: 'GET', url: link.pathname + link.search, key: null });
    assert.equal(served.text, '%PDF-1.4 tiny');
    assert.match(String(served.headers['content-disposition']), /Factura/);
  });

  test('a failing fetch is retried, then set aside with its error, while the next one is stored', async () => {
    meta.addMedia({ id: '8103', mimeType: 'audio/ogg', bytes: Buffer.from('ogg') });
    const bad = mediaBody('audio', { id: '8199-missing', mime_type: 'audio/ogg' });
    const good = mediaBody('sticker', { id: '8103', mime_type: 'image/webp' });
    await deliver(t, bad.body);
    await deliver(t, good.body);
    await drain(t.database.db);

    await runner(2).pass();
    const [first] = await jobsFor(bad.wamid);
    assert.equal(first?.attempts, 1);
    assert.equal(first?.failed_at, null, 'to be tried again');
    assert.match(first?.last_error ?? '', /Meta answered 404 for media 8199-missing/);
    assert.equal((await message(good.wamid)).kapso.media_data.byte_size, 3, 'the other media was stored in the same pass');

    // The retry is due after a backoff; bring it forward instead of waiting.
    await t.database.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString() }).where('kind', '=', MEDIA_FETCH_JOB).where('failed_at', 'is', null).execute();
    await runner(2).pass();
    const [last] = await jobsFor(bad.wamid);
    assert.equal(last?.attempts, 2);
    assert.notEqual(last?.failed_at, null, 'set aside after its last attempt');
    assert.match(last?.last_error ?? '', /404/);
    assert.equal((await message(bad.wamid)).kapso.media_url, undefined);
  });

  test('a download refused, then cut off half-way, leaves nothing stored; the third try stores it', async () => {
    meta.addMedia({ id: '8104', mimeType: 'video/mp4', bytes: patternChunk(0, 300 * 1024) });
    const { body, wamid: id } = mediaBody('video', { id: '8104', mime_type: 'video/mp4' });
    await deliver(t, body);
    await drain(t.database.db);
    meta.failFileDownloads(1);
    await runner().pass();
    const [job] = await jobsFor(id);
    assert.match(job?.last_error ?? '', /media host answered 500/);
    const files = await t.database.db.selectFrom('media_files').select('id').where('media_id', '=', '8104').execute();
    assert.equal(files.length, 0);
    const due = () => t.database.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString() }).where('kind', '=', MEDIA_FETCH_JOB).where('failed_at', 'is', null).execute();
    await due();
    meta.truncateFileDownloads(1);
    await runner().pass();
    const [again] = await jobsFor(id);
    assert.equal(again?.attempts, 2);
    assert.equal((await t.database.db.selectFrom('media_files').select('id').where('media_id', '=', '8104').execute()).length, 0, 'no half file');
    assert.equal((await t.database.db.selectFrom('media_chunks').select('seq').execute()).length, (await t.database.db.selectFrom('media_chunks').innerJoin('media_files', 'media_files.id', 'media_chunks.file_id').select('seq').execute()).length, 'no orphan chunks');
    await due();
    await runner().pass();
    assert.equal((await message(id)).kapso.media_data.byte_size, 300 * 1024);
  });
});
