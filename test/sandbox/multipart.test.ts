// The stand-in's streaming multipart reader, fed the same body cut at every byte position:
// delimiters split across chunks must not leak into, or cut short, the file's bytes.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { boundaryOf, MultipartError, readMultipart } from '../../src/sandbox/multipart.ts';

const BOUNDARY = '----formdata-undici-0123';
// File bytes that look like delimiters and CRLFs on purpose.
const FILE = Buffer.from(`line one\r\n--${BOUNDARY.slice(0, 10)}\r\n\r\n--not-the-boundary\r\nend`);
const BODY = Buffer.concat([
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n`),
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a b.pdf"\r\nContent-Type: application/pdf\r\n\r\n`),
  FILE,
  Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\napplication/pdf\r\n--${BOUNDARY}--\r\n`),
]);

async function parse(chunks: Buffer[]) {
  const received: Buffer[] = [];
  const result = await readMultipart(Readable.from(chunks), BOUNDARY, (part) => {
    assert.equal(part.filename, 'a b.pdf');
    assert.equal(part.contentType, 'application/pdf');
    return { write: (chunk) => void received.push(Buffer.from(chunk)), end: async () => undefined };
  });
  return { result, file: Buffer.concat(received) };
}

test('every split of the body into two chunks reads the same fields and file bytes', async () => {
  for (let at = 0; at <= BODY.length; at++) {
    const { result, file } = await parse([BODY.subarray(0, at), BODY.subarray(at)]);
    assert.deepEqual(result.fields, { messaging_product: 'whatsapp', type: 'application/pdf' }, `split at ${at}`);
    assert.ok(file.equals(FILE), `split at ${at}: got ${JSON.stringify(file.toString())}`);
    assert.deepEqual(result.files, [{ name: 'file', filename: 'a b.pdf', contentType: 'application/pdf', bytes: FILE.length }]);
    assert.equal(result.bytes, BODY.length);
  }
});

test('one byte at a time works too', async () => {
  const { file } = await parse([...BODY].map((byte) => Buffer.from([byte])));
  assert.ok(file.equals(FILE));
});

test('a body without its closing delimiter, or with a broken one, is an error', async () => {
  await assert.rejects(parse([BODY.subarray(0, BODY.length - 10)]), MultipartError);
  const broken = Buffer.from(`--${BOUNDARY}xx\r\n`);
  await assert.rejects(parse([broken]), /malformed/);
  const nameless = Buffer.from(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--`);
  await assert.rejects(parse([nameless]), /no Content-Disposition name/);
});

test('the boundary is read from the content type, quoted or not', () => {
  assert.equal(boundaryOf('multipart/form-data; boundary=abc'), 'abc');
  assert.equal(boundaryOf('multipart/form-data; boundary="a b"; charset=utf-8'), 'a b');
  assert.equal(boundaryOf('application/json'), null);
  assert.equal(boundaryOf(undefined), null);
});
