// Media through the stand-in: a multipart upload of a few MB streamed to disk (the server's
// memory does not grow by the file), the object's description, the download with the token,
// deletion, seeded inbound media, and the refusals Meta gives.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startStandInGraph, type StandInGraph } from '../../src/sandbox/graph-server.ts';
import { call, metaError, PNID, TOKEN } from './graph.ts';
import { kapsoProxyChecksAlongside } from '../helpers/kapso-proxy-oracle.ts';

const kapso = kapsoProxyChecksAlongside('the stand-in\'s media answers');
let graph: StandInGraph;

before(async () => {
  graph = await startStandInGraph({});
});
after(() => graph.close());

function form(bytes: Buffer, fields: Record<string, string> = { messaging_product: 'whatsapp', type: 'application/pdf' }, filename = 'report.pdf'): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  data.append('file', new Blob([new Uint8Array(bytes)], { type: 'application/pdf' }), filename);
  return data;
}

async function upload(body: FormData, token: string | null = TOKEN) {
  const response = await fetch(`${graph.url}/v23.0/${PNID}/media`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body });
  return { status: response.status, body: (await response.json()) as any };
}

test('an upload of a few MB comes back byte for byte, with its sha256 and size', async () => {
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const uploaded = await upload(form(bytes));
  assert.equal(uploaded.status, 200, JSON.stringify(uploaded.body));
  assert.match(uploaded.body.id, /^\d{15,17}$/);
  kapso.assertResponse('uploadMedia', 200, uploaded.body);

  const described = await call(graph, 'GET', `/v23.0/${uploaded.body.id}?phone_number_id=${PNID}`);
  assert.equal(described.status, 200, described.text);
  assert.deepEqual({ ...described.body, url: undefined }, { messaging_product: 'whatsapp', url: undefined, mime_type: 'application/pdf', sha256: createHash('sha256').update(bytes).digest('hex'), file_size: bytes.length, id: uploaded.body.id });
  assert.ok(described.body.url.startsWith(`${graph.url}/media-files/`));

  const download = await fetch(described.body.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(download.status, 200);
  assert.equal(download.headers.get('content-type'), 'application/pdf');
  assert.equal(download.headers.get('content-length'), String(bytes.length));
  assert.ok(Buffer.from(await download.arrayBuffer()).equals(bytes));

  const recorded = graph.requests.find((r) => r.path.endsWith('/media'))!;
  assert.equal(recorded.body && (recorded.body as any).multipart, true);
  assert.equal((recorded.body as any).files[0].bytes, bytes.length);
  assert.equal((recorded.body as any).fields.messaging_product, 'whatsapp');
});

test('the download needs the token and the URL\'s signature', async () => {
  const seeded = graph.addMedia({ mimeType: 'image/jpeg', bytes: Buffer.from('jpeg bytes') });
  const { body } = await call(graph, 'GET', `/v23.0/${seeded.id}`);
  const noToken = await fetch(body.url);
  assert.equal(noToken.status, 401);
  assert.equal(((await noToken.json()) as any).error.code, 190);
  const forged = await fetch(body.url.replace(/sig=[0-9a-f]+/, `sig=${'0'.repeat(32)}`), { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(forged.status, 400);
  const good = await fetch(body.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(await good.text(), 'jpeg bytes');
});

test('seeded media has the id a test chooses, for inbound-media tests', async () => {
  const seeded = graph.addMedia({ id: '998877665544', mimeType: 'audio/ogg', bytes: Buffer.alloc(5, 1) });
  assert.equal(seeded.id, '998877665544');
  const { status, body } = await call(graph, 'GET', '/v23.0/998877665544');
  assert.equal(status, 200);
  assert.equal(body.mime_type, 'audio/ogg');
  assert.equal(body.file_size, 5);
  assert.equal(body.sha256, createHash('sha256').update(Buffer.alloc(5, 1)).digest('hex'));
});

test('delete answers success; then the id is unknown: 400 code 100 subcode 33', async () => {
  const seeded = graph.addMedia({ mimeType: 'image/png', bytes: Buffer.from('png') });
  const deleted = await call(graph, 'DELETE', `/v23.0/${seeded.id}?phone_number_id=${PNID}`);
  assert.deepEqual([deleted.status, deleted.body], [200, { success: true }]);
  kapso.assertResponse('deleteMedia', 200, deleted.body);
  for (const method of ['GET', 'DELETE']) {
    const gone = await call(graph, method, `/v23.0/${seeded.id}`);
    assert.equal(gone.status, 400, `${method}: ${gone.text}`);
    const error = metaError(gone);
    assert.deepEqual([error.code, error.error_subcode, error.type], [100, 33, 'GraphMethodException']);
  }
});

test('uploads without messaging_product, without a file or not multipart are refused', async () => {
  const noProduct = await upload(form(Buffer.from('x'), { type: 'application/pdf' }));
  assert.equal(noProduct.status, 400);
  assert.match(noProduct.body.error.message, /messaging_product/);
  const noFile = new FormData();
  noFile.append('messaging_product', 'whatsapp');
  const missing = await upload(noFile);
  assert.equal(missing.status, 400);
  assert.match(missing.body.error.message, /file/);
  const json = await call(graph, 'POST', `/v23.0/${PNID}/media`, { body: { messaging_product: 'whatsapp' } });
  assert.equal(json.status, 400);
  assert.match(metaError(json).error_data!.details, /multipart/);
  const cut = await call(graph, 'POST', `/v23.0/${PNID}/media`, { body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc', headers: { 'content-type': 'multipart/form-data; boundary=xyz' } });
  assert.equal(cut.status, 400);
  assert.match(metaError(cut).error_data!.details, /ended before/);
  assert.equal(await upload(form(Buffer.from('x')), null).then((r) => r.status), 401);
});

test('the file size can be a string, as Kapso documents it', async () => {
  const stringy = await startStandInGraph({ fileSizeAs: 'string' });
  try {
    const seeded = stringy.addMedia({ mimeType: 'image/jpeg', bytes: Buffer.alloc(10) });
    const { body } = await call(stringy, 'GET', `/v23.0/${seeded.id}?phone_number_id=${PNID}`);
    assert.equal(body.file_size, '10');
    kapso.assertResponse('getMediaUrl', 200, body);
  } finally {
    await stringy.close();
  }
});

test('a 64 MB upload is streamed: the server\'s memory grows by far less than the file', async () => {
  const size = 64 * 1024 * 1024;
  const boundary = 'sandbox-boundary-7d1f';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const hash = createHash('sha256');
  async function* body() {
    yield head;
    for (let sent = 0; sent < size; sent += chunk.length) {
      hash.update(chunk);
      yield chunk;
    }
    yield tail;
  }
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const response = await request(`${graph.url}/v23.0/${PNID}/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) },
    body: Readable.from(body()),
  });
  clearInterval(sampler);
  const answer = (await response.body.json()) as { id: string };
  assert.equal(response.statusCode, 200, JSON.stringify(answer));
  const object = graph.media(answer.id)!;
  assert.equal(object.fileSize, size);
  assert.equal(object.sha256, hash.digest('hex'));
  // Buffering the body would cost at least the file's 64 MB (and twice that to concatenate).
  // In-process with the test runner, Node 24 settles its heap higher than 20 and 22 (41 MB seen once); a buffered
  // upload would grow by the whole 64 MB and more, so 56 MB still tells streaming from buffering.
  assert.ok(peak - rssBefore < 56 * 1024 * 1024, `RSS grew by ${Math.round((peak - rssBefore) / 1048576)} MB for a 64 MB upload`);
});
