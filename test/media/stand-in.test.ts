// Media against the stand-in Graph API (src/sandbox/): the whole round trip of an upload through
// the proxy, its download by Parley's link and its deletion, and inbound media the stand-in
// holds, fetched and served from Parley's storage; a fault on Meta's file host is retried.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JobRunner } from '../../src/jobs/runner.ts';
import { mediaJobRegistry } from '../../src/media/fetch-job.ts';
import { MEDIA_FETCH_JOB } from '../../src/media/repo.ts';
import { type StandInGraph, startStandInGraph } from '../../src/sandbox/graph-server.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber, deliver, drain, envelope, freshUser, silentLogger, unix, wamid } from '../helpers/meta.ts';
import { patternChunk } from './media-upstream.ts';

const BOUNDARY = '----stand-in-boundary';

describe('media against the stand-in Graph API', () => {
  let t: TestApp;
  let graph: StandInGraph;
  let number: ConnectedNumber;

  before(async () => {
    graph = await startStandInGraph({ fileSizeAs: 'string' });
    t = await startTestApp({ metaGraphUrl: graph.url });
    number = await connectNumber(t);
  });
  after(async () => {
    await t.close();
    await graph.close();
  });

  test('upload, get with download_url, download without a key, delete', async () => {
    const file = patternChunk(9, 123_457);
    const payload = Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\napplication/pdf\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="report.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
      ),
      file,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    const uploaded = await t.app.inject({
      method: 'POST',
      url: `/meta/whatsapp/v23.0/${number.phoneNumberId}/media`,
      headers: { 'x-api-key': t.key, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      payload,
    });
    assert.equal(uploaded.statusCode, 200, uploaded.body);
    const { id } = uploaded.json();
    assert.equal(graph.media(id)?.fileSize, file.length);

    const got = await t.request({ method: 'GET', url: `/meta/whatsapp/v23.0/${id}?phone_number_id=${number.phoneNumberId}` });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.mime_type, 'application/pdf');
    assert.equal(got.body.file_size, String(file.length));
    assert.ok(got.body.url.startsWith(graph.url), "Meta's own url is kept");
    const link = new URL(got.body.download_url);
    const download = await t.app.inject({ method: 'GET', url: link.pathname + link.search });
    assert.equal(download.statusCode, 200, download.body);
    assert.ok(download.rawPayload.equals(file), 'the uploaded bytes come back');
    assert.equal(download.headers['content-type'], 'application/pdf');

    const deleted = await t.request({ method: 'DELETE', url: `/meta/whatsapp/v23.0/${id}?phone_number_id=${number.phoneNumberId}` });
    assert.deepEqual(deleted.body, { success: true });
    const gone = await t.request({ method: 'GET', url: `/meta/whatsapp/v23.0/${id}?phone_number_id=${number.phoneNumberId}` });
    assert.ok(gone.status >= 400);
    assert.equal(typeof gone.body.error.message, 'string');
    assert.equal(gone.body.download_url, undefined);
  });

  test('inbound media the stand-in holds is fetched, retried past a fault, and served', async () => {
    const bytes = patternChunk(1, 40_000);
    const object = graph.addMedia({ mimeType: 'image/png', bytes, phoneNumberId: number.phoneNumberId });
    const user = freshUser();
    const id = wamid();
    await deliver(t, envelope(number.phoneNumberId, 'messages', {
      contacts: [{ profile: { name: 'Bea' }, wa_id: user.waId }],
      messages: [{ id, from: user.waId, timestamp: unix(new Date()), type: 'image', image: { id: object.id, mime_type: 'image/png' } }],
    }));
    await drain(t.database.db);
    const runner = new JobRunner(t.database.db, mediaJobRegistry({ db: t.database.db, graph: t.graph, logger: silentLogger }), silentLogger, { pollMs: 50 });

    graph.setFault({ kind: 'error', status: 500, times: 1, match: '/media-files/' });
    await runner.pass();
    const job = await t.database.db.selectFrom('jobs').select(['attempts', 'last_error']).where('kind', '=', MEDIA_FETCH_JOB).executeTakeFirstOrThrow();
    assert.equal(job.attempts, 1);
    assert.match(job.last_error ?? '', /500/);
    await t.database.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString() }).where('kind', '=', MEDIA_FETCH_JOB).execute();
    await runner.pass();

    const message = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages/${encodeURIComponent(id)}` });
    assert.equal(message.body.data.kapso.media_data.byte_size, bytes.length);
    const link = new URL(message.body.data.kapso.media_url);
    const served = await t.app.inject({ method: 'GET', url: link.pathname + link.search });
    assert.equal(served.statusCode, 200);
    assert.ok(served.rawPayload.equals(bytes));
  });
});
