// A small streaming multipart/form-data reader (RFC 7578), enough for media and flow-asset
// uploads: text fields are kept (up to 64 KiB each), file parts are written to a sink chunk by
// chunk with the request paused while the sink drains, so a 100 MB upload never sits in memory.
import type { Readable } from 'node:stream';

export interface PartHeaders {
  name: string;
  filename: string | null;
  contentType: string | null;
}

/** Where a file part's bytes go. `write` may return a promise (backpressure). */
export interface FileSink {
  write(chunk: Buffer): void | Promise<void>;
  end(): Promise<void>;
}

export interface MultipartResult {
  fields: Record<string, string>;
  files: { name: string; filename: string | null; contentType: string | null; bytes: number }[];
  bytes: number;
}

export class MultipartError extends Error {}

const FIELD_LIMIT = 64 * 1024;

export function boundaryOf(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) return null;
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2]!).trim() : null;
}

function parseHeaders(block: string): PartHeaders {
  let name: string | null = null;
  let filename: string | null = null;
  let contentType: string | null = null;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-disposition') {
      name = /\bname="([^"]*)"/i.exec(value)?.[1] ?? /\bname=([^;]+)/i.exec(value)?.[1]?.trim() ?? null;
      filename = /\bfilename="([^"]*)"/i.exec(value)?.[1] ?? null;
    } else if (key === 'content-type') {
      contentType = value;
    }
  }
  if (name === null) throw new MultipartError('a multipart part has no Content-Disposition name');
  return { name, filename, contentType };
}

/**
 * Reads the whole body. `openFile` is asked for a sink for each part with a filename; text
 * fields land in `fields`. Throws MultipartError on a malformed body.
 */
export async function readMultipart(source: Readable, boundary: string, openFile: (part: PartHeaders) => FileSink): Promise<MultipartResult> {
  // The first delimiter has no CRLF before it; starting with one lets every delimiter look alike.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buffer: Buffer = Buffer.from('\r\n');
  let state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble';
  let part: PartHeaders | null = null;
  let sink: FileSink | null = null;
  let field: Buffer[] = [];
  let fieldBytes = 0;
  let partBytes = 0;
  let total = 0;
  const result: MultipartResult = { fields: {}, files: [], bytes: 0 };

  const emit = async (chunk: Buffer) => {
    if (chunk.length === 0) return;
    partBytes += chunk.length;
    if (sink) {
      await sink.write(chunk);
    } else {
      fieldBytes += chunk.length;
      if (fieldBytes > FIELD_LIMIT) throw new MultipartError(`field ${part?.name} is larger than ${FIELD_LIMIT} bytes`);
      field.push(chunk);
    }
  };
  const finishPart = async () => {
    if (!part) return;
    if (sink) {
      await sink.end();
      result.files.push({ name: part.name, filename: part.filename, contentType: part.contentType, bytes: partBytes });
    } else {
      result.fields[part.name] = Buffer.concat(field).toString('utf8');
    }
    part = null;
    sink = null;
    field = [];
    fieldBytes = 0;
    partBytes = 0;
  };

  for await (const chunk of source as AsyncIterable<Buffer>) {
    total += chunk.length;
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      if (state === 'done') {
        buffer = Buffer.alloc(0); // the epilogue is ignored
        break;
      }
      if (state === 'preamble' || state === 'body') {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          // Keep what could be the start of a delimiter split across chunks.
          const keep = Math.min(buffer.length, delimiter.length - 1);
          if (state === 'body') await emit(buffer.subarray(0, buffer.length - keep));
          buffer = buffer.subarray(buffer.length - keep);
          break;
        }
        // Two more bytes tell a part's start (CRLF) from the end of the body (--).
        if (buffer.length < at + delimiter.length + 2) {
          if (state === 'body') await emit(buffer.subarray(0, at));
          buffer = buffer.subarray(at);
          break;
        }
        if (state === 'body') {
          await emit(buffer.subarray(0, at));
          await finishPart();
        }
        const after = buffer.subarray(at + delimiter.length, at + delimiter.length + 2).toString('latin1');
        buffer = buffer.subarray(at + delimiter.length + 2);
        if (after === '--') state = 'done';
        else if (after === '\r\n') state = 'headers';
        else throw new MultipartError('malformed multipart delimiter');
        continue;
      }
      // headers
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffer.length > 16 * 1024) throw new MultipartError('multipart part headers are too long');
        break;
      }
      part = parseHeaders(buffer.subarray(0, end).toString('utf8'));
      // `file` is a file part even when the client gave it no filename.
      sink = part.filename !== null || part.name === 'file' ? openFile(part) : null;
      buffer = buffer.subarray(end + 4);
      state = 'body';
    }
  }
  if (state !== 'done') {
    if (sink) await (sink as FileSink).end().catch(() => undefined);
    throw new MultipartError('the multipart body ended before its closing delimiter');
  }
  result.bytes = total;
  return result;
}
