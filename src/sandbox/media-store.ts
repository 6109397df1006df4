// The stand-in's media: uploads streamed to files in a temp folder (with their SHA-256 and size
// worked out on the way), objects seeded by tests, and signed download URLs like Meta's
// lookaside links, which also need the Bearer token.
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { GraphError, invalidParameter } from './graph-errors.ts';
import { type FileSink, MultipartError, type MultipartResult, readMultipart } from './multipart.ts';

export interface MediaObject {
  id: string;
  phoneNumberId: string | null;
  mimeType: string;
  sha256: string;
  fileSize: number;
  filename: string | null;
  file: string;
}

/** Meta's ceiling (documents); larger uploads are refused. */
export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

export function mediaId(): string {
  return `${randomInt(1, 10)}${String(randomInt(0, 1e9)).padStart(9, '0')}${String(randomInt(0, 1e6)).padStart(6, '0')}`;
}

class HashingFileSink implements FileSink {
  private readonly stream: fs.WriteStream;
  private readonly hash = createHash('sha256');
  bytes = 0;
  tooLarge = false;

  constructor(readonly file: string) {
    this.stream = fs.createWriteStream(file);
  }

  write(chunk: Buffer): void | Promise<void> {
    this.bytes += chunk.length;
    if (this.bytes > MAX_UPLOAD_BYTES) {
      this.tooLarge = true;
      return; // the rest is read and dropped, so the client gets its answer
    }
    this.hash.update(chunk);
    if (!this.stream.write(chunk)) return new Promise((resolve) => this.stream.once('drain', () => resolve()));
  }

  end(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export class MediaStore {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-sandbox-media-'));
  private readonly objects = new Map<string, MediaObject>();
  private readonly signingKey = randomBytes(32);

  get(id: string): MediaObject | undefined {
    return this.objects.get(id);
  }

  /** Seeds an object (inbound media in tests): the bytes are written to the temp folder. */
  add(input: { id?: string; mimeType: string; bytes: Buffer | string; phoneNumberId?: string; filename?: string }): MediaObject {
    const id = input.id ?? mediaId();
    const bytes = Buffer.from(input.bytes);
    const file = path.join(this.dir, id);
    fs.writeFileSync(file, bytes);
    const object: MediaObject = { id, phoneNumberId: input.phoneNumberId ?? null, mimeType: input.mimeType, sha256: createHash('sha256').update(bytes).digest('hex'), fileSize: bytes.length, filename: input.filename ?? null, file };
    this.remove(id);
    this.objects.set(id, object);
    return object;
  }

  /** Reads a `POST /{pnid}/media` body to a file; the upload's note for `requests` goes to `note`. */
  async upload(req: IncomingMessage, boundary: string, phoneNumberId: string, note: (result: MultipartResult) => void): Promise<MediaObject> {
    const id = mediaId();
    let sink: HashingFileSink | null = null;
    let result: MultipartResult;
    try {
      result = await readMultipart(req, boundary, (part) => {
        if (part.name !== 'file' || sink) return { write: () => undefined, end: async () => undefined };
        sink = new HashingFileSink(path.join(this.dir, id));
        return sink;
      });
    } catch (error) {
      this.discard(sink);
      if (error instanceof MultipartError) throw invalidParameter(error.message);
      throw error;
    }
    note(result);
    const file = sink as HashingFileSink | null;
    if (result.fields.messaging_product !== 'whatsapp') {
      this.discard(file);
      throw new GraphError(400, '(#100) The parameter messaging_product is required.', 'OAuthException', 100, { details: 'messaging_product must be "whatsapp"' });
    }
    if (!file) throw new GraphError(400, '(#100) The parameter file is required.', 'OAuthException', 100);
    if (file.tooLarge) {
      this.discard(file);
      throw new GraphError(400, '(#131052) Media upload error', 'OAuthException', 131052, { details: `the file is larger than ${MAX_UPLOAD_BYTES} bytes` });
    }
    const part = result.files.find((f) => f.name === 'file')!;
    const mimeType = result.fields.type || part.contentType || 'application/octet-stream';
    const object: MediaObject = { id, phoneNumberId, mimeType, sha256: file.digest(), fileSize: file.bytes, filename: part.filename, file: file.file };
    this.objects.set(id, object);
    return object;
  }

  private discard(sink: HashingFileSink | null): void {
    if (sink) fs.rm(sink.file, { force: true }, () => undefined);
  }

  remove(id: string): boolean {
    const object = this.objects.get(id);
    if (!object) return false;
    this.objects.delete(id);
    fs.rmSync(object.file, { force: true });
    return true;
  }

  signature(id: string): string {
    return createHmac('sha256', this.signingKey).update(id).digest('hex').slice(0, 32);
  }

  validSignature(id: string, sig: string | null): boolean {
    if (sig === null || !/^[0-9a-f]{32}$/.test(sig)) return false;
    return timingSafeEqual(Buffer.from(sig), Buffer.from(this.signature(id)));
  }

  /** The `GET /{media_id}` answer. */
  describe(object: MediaObject, base: string) {
    return {
      messaging_product: 'whatsapp',
      url: `${base}/media-files/${object.id}?sig=${this.signature(object.id)}`,
      mime_type: object.mimeType,
      sha256: object.sha256,
      file_size: object.fileSize,
      id: object.id,
    };
  }

  clear(): void {
    for (const id of [...this.objects.keys()]) this.remove(id);
  }

  close(): void {
    this.objects.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
