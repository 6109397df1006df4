// Media through the proxy: an upload streamed to Meta, the media object with Parley's signed
// download link, the download by that link without a key, deletion, and every refusal (forged,
// expired and foreign links, another project's key, bodies that are not uploads or too large).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { MEDIA_LINK_KEY_PURPOSE, MediaLinkSigner } from '../../src/media/link-signer.ts';
import { UPLOAD_LIMIT_BYTES } from '../../src/meta-proxy/media.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber } from '../helpers/meta.ts';
import { type MediaUpstream, patternChunk, startMediaUpstream, TEST_TOKEN } from './media-upstream.ts';

const BOUNDARY = '----test-boundary-7d1';

function multipart(fileBytes: Buffer, mimeType: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\n${mimeType}\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="cat.png"\r\nContent-Type: ${mimeType}\r\n\r\n`,
    ),
    fileBytes,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

describe('media through the proxy', () => {
  let t: TestApp;
  let meta: MediaUpstream;
  let number: ConnectedNumber;
  let base: string;

  before(async () => {
    meta = await startMediaUpstream();
    t = await startTestApp({ metaGraphUrl: meta.url });
    number = await connectNumber(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await t.close();
    await meta.close();
  });

  const v = '/meta/whatsapp/v23.0';

  test('an upload reaches Meta byte for byte with the number token, and Meta\'s id comes back', async () => {
    const body = multipart(patternChunk(0, 5000), 'image/png');
    const response = await t.app.inject({
      method: 'POST',
      url: `${v}/${number.phoneNumberId}/media`,
      headers: { 'x-api-key': t.key, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      payload: body,
    });
    assert.equal(response.statusCode, 200, response.body);
    const { id } = response.json();
    assert.ok(meta.has(id));
    const upload = meta.uploads.find((u) => u.id === id)!;
    assert.ok(upload.raw?.equals(body), 'the multipart body arrived unchanged');
    const call = meta.calls.at(-1)!;
    assert.equal(call.authorization, `Bearer ${TEST_TOKEN}`);
    assert.equal(call.contentType, `multipart/form-data; boundary=${BOUNDARY}`);
  });

  test('media get adds a download link that works without a key; delete removes it', async () => {
    meta.addMedia({ id: '7001', mimeType: 'image/jpeg', bytes: patternChunk(3, 70_000) });
    const got = await t.request({ method: 'GET', url: `${v}/7001?phone_number_id=${number.phoneNumberId}` });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.id, '7001');
    assert.equal(got.body.mime_type, 'image/jpeg');
    assert.match(got.body.url, /\/files\/7001/, "Meta's url stays in the answer");
    assert.match(got.body.download_url, /\/meta\/whatsapp\/media_download\?token=/);
    const expires = Date.parse(got.body.download_url_expires_at);
    assert.ok(expires > Date.now() + 200_000 && expires <= Date.now() + 300_000, 'expires in about 4 minutes');

    // A real client, no credentials at all.
    const link = new URL(got.body.download_url);
    const download = await fetch(`${base}${link.pathname}${link.search}`);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'image/jpeg');
    assert.equal(download.headers.get('content-length'), '70000');
    assert.match(download.headers.get('cache-control') ?? '', /^private/);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(patternChunk(3, 70_000)));
    assert.equal(meta.calls.at(-1)!.authorization, `Bearer ${TEST_TOKEN}`, 'the file was fetched with the number token');

    const deleted = await t.request({ method: 'DELETE', url: `${v}/7001?phone_number_id=${number.phoneNumberId}` });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { success: true });
    assert.equal(meta.has('7001'), false);
  });

  test('Meta\'s errors on media get pass through unchanged', async () => {
    const got = await t.request({ method: 'GET', url: `${v}/99999?phone_number_id=${number.phoneNumberId}` });
    assert.equal(got.status, 404);
    assert.equal(got.body.error.fbtrace_id, 'Upstream');
    assert.equal(got.body.download_url, undefined);
  });

  test('forged, tampered, expired and missing tokens are Meta-shaped 404s', async () => {
    meta.addMedia({ id: '7002', mimeType: 'image/png', bytes: Buffer.from('png') });
    const got = await t.request({ method: 'GET', url: `${v}/7002?phone_number_id=${number.phoneNumberId}` });
    const token = new URL(got.body.download_url).searchParams.get('token')!;
    const [claims, mac] = token.split('.') as [string, string];
    const other = JSON.parse(Buffer.from(claims, 'base64url').toString());
    other.m = '7003';
    const tampered = `${Buffer.from(JSON.stringify(other)).toString('base64url')}.${mac}`;
    const foreignKey = new MediaLinkSigner(Buffer.alloc(32, 7)).sign({ kind: 'meta', projectId: other.p, phoneNumberId: number.phoneNumberId, mediaId: '7002', url: null }, { ttlSeconds: 240 }).token;
    const past = new MediaLinkSigner(t.cipher.deriveKey(MEDIA_LINK_KEY_PURPOSE), () => new Date(Date.now() - 10 * 60_000));
    const expired = past.sign({ kind: 'meta', projectId: other.p, phoneNumberId: number.phoneNumberId, mediaId: '7002', url: null }, { ttlSeconds: 240 }).token;
    const before = meta.calls.length;
    for (const bad of [tampered, foreignKey, expired, 'not-a-token', '']) {
      const response = await t.request({ method: 'GET', url: `/meta/whatsapp/media_download?token=${encodeURIComponent(bad)}`, key: null });
      assert.equal(response.status, 404, `token ${bad.slice(0, 20)}: ${response.text}`);
      assert.equal(response.body.error.code, 100);
      assert.equal(typeof response.body.error.message, 'string');
    }
    const none = await t.request({ method: 'GET', url: '/meta/whatsapp/media_download', key: null });
    assert.equal(none.status, 404);
    assert.equal(meta.calls.length, before, 'nothing was fetched from Meta');

    // The same key signing a link for a number of another project (or none) still finds nothing.
    const current = new MediaLinkSigner(t.cipher.deriveKey(MEDIA_LINK_KEY_PURPOSE));
    const wrongNumber = current.sign({ kind: 'meta', projectId: other.p, phoneNumberId: '1234500000', mediaId: '7002', url: null }, { ttlSeconds: 240 }).token;
    const response = await t.request({ method: 'GET', url: `/meta/whatsapp/media_download?token=${wrongNumber}`, key: null });
    assert.equal(response.status, 404);
  });

  test('a link holding only the media id refetches the media object first', async () => {
    meta.addMedia({ id: '7004', mimeType: 'audio/ogg', bytes: Buffer.from('ogg bytes') });
    const projectId = (await t.database.db.selectFrom('phone_numbers').select('project_id').where('phone_number_id', '=', number.phoneNumberId).executeTakeFirstOrThrow()).project_id;
    const signer = new MediaLinkSigner(t.cipher.deriveKey(MEDIA_LINK_KEY_PURPOSE));
    const { token } = signer.sign({ kind: 'meta', projectId, phoneNumberId: number.phoneNumberId, mediaId: '7004', url: null }, { ttlSeconds: 240 });
    const response = await t.request({ method: 'GET', url: `/meta/whatsapp/media_download?token=${token}`, key: null });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.text, 'ogg bytes');
    assert.equal(response.headers['content-type'], 'audio/ogg');
  });

  test('Meta failing the file download is a 502 with Kapso\'s error body', async () => {
    meta.addMedia({ id: '7005', mimeType: 'image/png', bytes: Buffer.from('png') });
    const got = await t.request({ method: 'GET', url: `${v}/7005?phone_number_id=${number.phoneNumberId}` });
    meta.failFileDownloads(1);
    const response = await t.request({ method: 'GET', url: new URL(got.body.download_url).pathname + new URL(got.body.download_url).search, key: null });
    assert.equal(response.status, 502);
    assert.deepEqual(response.body, { error: 'Media download failed' });
  });

  test("another project's key gets a 404 and nothing is forwarded", async () => {
    meta.addMedia({ id: '7006', mimeType: 'image/png', bytes: Buffer.from('png') });
    const before = meta.calls.length;
    const got = await t.request({ method: 'GET', url: `${v}/7006?phone_number_id=${number.phoneNumberId}`, key: t.otherKey });
    assert.equal(got.status, 404);
    assert.equal(got.body.error.error_subcode, 33);
    const upload = await t.app.inject({
      method: 'POST',
      url: `${v}/${number.phoneNumberId}/media`,
      headers: { 'x-api-key': t.otherKey, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      payload: multipart(Buffer.from('x'), 'image/png'),
    });
    assert.equal(upload.statusCode, 404);
    const deleted = await t.request({ method: 'DELETE', url: `${v}/7006?phone_number_id=${number.phoneNumberId}`, key: t.otherKey });
    assert.equal(deleted.status, 404);
    assert.equal(meta.calls.length, before);
    assert.ok(meta.has('7006'));
  });

  test('an upload that is not multipart is refused before Meta is called', async () => {
    const before = meta.calls.length;
    const response = await t.request({ method: 'POST', url: `${v}/${number.phoneNumberId}/media`, body: { file: 'x' } });
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /multipart/);
    assert.equal(meta.calls.length, before);
  });

  test('an upload declaring more than the limit is refused at once with a 413', async () => {
    const before = meta.calls.length;
    const response = await t.app.inject({
      method: 'POST',
      url: `${v}/${number.phoneNumberId}/media`,
      headers: { 'x-api-key': t.key, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(UPLOAD_LIMIT_BYTES + 1) },
      payload: Readable.from([Buffer.from('--')]),
    });
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error.type, 'OAuthException');
    assert.equal(meta.calls.length, before);
  });

  test('a chunked upload past the limit is cut off with a 413, and the JSON limit is unchanged', async () => {
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`${base}${v}/${number.phoneNumberId}/media`, {
        method: 'POST',
        headers: { 'x-api-key': t.key, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      });
      request.on('response', (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      request.on('error', reject);
      // 1 MiB pieces until the server answers (it must, before the client stops).
      let sent = 0;
      const piece = Buffer.alloc(1024 * 1024, 1);
      const pump = () => {
        while (sent <= UPLOAD_LIMIT_BYTES + 4 * piece.length) {
          sent += piece.length;
          if (!request.write(piece)) return void request.once('drain', pump);
        }
        request.end();
      };
      pump();
    });
    assert.equal(status.status, 413, status.body);
    assert.equal(JSON.parse(status.body).error.code, 100);
    const upstreamCall = meta.calls.at(-1)!;
    assert.ok(upstreamCall.bodyBytes <= UPLOAD_LIMIT_BYTES, 'Meta never received more than the limit');

    const bigJson = await t.request({ method: 'POST', url: `${v}/${number.phoneNumberId}/messages`, rawBody: `{"x":"${'a'.repeat(1024 * 1024 + 10)}"}`, headers: { 'content-type': 'application/json' } });
    assert.equal(bigJson.status, 413);
  });
});
