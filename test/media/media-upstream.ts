// A small Graph API stand-in for media, for these tests until src/sandbox/ has one: uploads are
// counted and hashed as they stream in (never kept whole unless small), media objects are
// described with a file URL on this server, files need the number's token and can be generated
// on the fly (a 50 MB file costs no memory), and file downloads can be told to fail.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export const TEST_TOKEN = 'EAAG-test-token';

export interface UpstreamMedia {
  id: string;
  mimeType: string;
  /** Small files: their bytes. Large ones: a size, filled with a repeating pattern. */
  bytes?: Buffer;
  size?: number;
  phoneNumberId?: string;
}

export interface SeenCall {
  method: string;
  path: string;
  authorization: string | undefined;
  /** Bytes of the request body (uploads are counted, not kept). */
  bodyBytes: number;
  contentType: string | undefined;
}

/** The bytes of a generated file: 0..250 repeated, so a reader can check every byte. */
export function patternChunk(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

export function patternStream(size: number, chunk = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk, size - sent);
      this.push(patternChunk(sent, n));
      sent += n;
    },
  });
}

export async function startMediaUpstream() {
  const media = new Map<string, UpstreamMedia>();
  const calls: SeenCall[] = [];
  /** Uploads as received: size and SHA-256 of the whole multipart body, the raw body when under 1 MiB. */
  const uploads: { id: string; bytes: number; sha256: string; raw: Buffer | null }[] = [];
  let failFiles = 0;
  let truncateFiles = 0;
  let server: http.Server;

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const graphError = (res: http.ServerResponse, status: number, message: string, code = 100) =>
    json(res, status, { error: { message, type: 'OAuthException', code, fbtrace_id: 'Upstream' } });

  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://upstream');
    const call: SeenCall = { method: req.method!, path: url.pathname, authorization: req.headers.authorization, bodyBytes: 0, contentType: req.headers['content-type'] };
    calls.push(call);
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      call.bodyBytes += chunk.length;
      hash.update(chunk);
      if (call.bodyBytes <= 1024 * 1024) kept.push(chunk);
    });
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${TEST_TOKEN}`) return graphError(res, 401, 'Invalid OAuth access token', 190);
      const parts = url.pathname.split('/').filter(Boolean);
      if (parts[0] === 'files' && parts[1]) {
        if (failFiles > 0) {
          failFiles -= 1;
          return graphError(res, 500, 'Temporary media host failure', 2);
        }
        const item = media.get(parts[1]);
        if (!item) return graphError(res, 404, 'Media not found');
        const size = item.bytes?.length ?? item.size ?? 0;
        res.writeHead(200, { 'content-type': item.mimeType, 'content-length': String(size) });
        if (truncateFiles > 0 && item.bytes) {
          truncateFiles -= 1;
          res.write(item.bytes.subarray(0, Math.floor(item.bytes.length / 2)));
          return void setTimeout(() => res.destroy(), 20);
        }
        if (item.bytes) return void res.end(item.bytes);
        return void patternStream(size).pipe(res);
      }
      const [version, id, edge] = parts;
      if (!version || !/^v\d+\.\d+$/.test(version) || !id) return graphError(res, 400, 'Unknown path');
      if (req.method === 'POST' && edge === 'media') {
        if (!/^multipart\/form-data/.test(req.headers['content-type'] ?? '')) return graphError(res, 400, 'Upload must be multipart');
        const raw = call.bodyBytes <= 1024 * 1024 ? Buffer.concat(kept) : null;
        const type = raw ? /name="type"\r\n\r\n([^\r]+)/.exec(raw.toString('latin1'))?.[1] : undefined;
        const newId = `${Date.now()}${randomBytes(3).readUIntBE(0, 3)}`;
        uploads.push({ id: newId, bytes: call.bodyBytes, sha256: hash.digest('hex'), raw });
        media.set(newId, { id: newId, mimeType: type ?? 'application/octet-stream', size: 0, phoneNumberId: id });
        return json(res, 200, { id: newId });
      }
      if (edge !== undefined) return graphError(res, 400, 'Unknown edge');
      const item = media.get(id);
      if (!item) return graphError(res, 404, `Unsupported get request. Object with ID '${id}' does not exist`, 100);
      if (req.method === 'GET') {
        const size = item.bytes?.length ?? item.size ?? 0;
        const { port } = server.address() as AddressInfo;
        return json(res, 200, {
          messaging_product: 'whatsapp',
          url: `http://127.0.0.1:${port}/files/${id}?ext=1&hash=abc`,
          mime_type: item.mimeType,
          sha256: item.bytes ? createHash('sha256').update(item.bytes).digest('hex') : 'generated',
          file_size: size,
          id,
        });
      }
      if (req.method === 'DELETE') {
        media.delete(id);
        return json(res, 200, { success: true });
      }
      return graphError(res, 400, 'Unsupported method');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    uploads,
    addMedia(item: UpstreamMedia) {
      media.set(item.id, item);
    },
    has: (id: string) => media.has(id),
    /** The next `n` file downloads send half their bytes, then drop the connection. */
    truncateFileDownloads(n: number) {
      truncateFiles = n;
    },
    /** The next `n` file downloads answer 500. */
    failFileDownloads(n: number) {
      failFiles = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type MediaUpstream = Awaited<ReturnType<typeof startMediaUpstream>>;
