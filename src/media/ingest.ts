// POST /whatsapp/media: a file from a public URL, checked against Meta's types and size limits,
// streamed into a multipart upload to Meta for the number (never held whole), answered with
// Meta's media id and what was uploaded.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ApiError, badRequest, notFound } from '../http/errors.ts';
import { DEFAULT_GRAPH_VERSION, type GraphClient, GraphUnavailableError } from '../meta-graph/client.ts';
import { findByMetaIdOrWaba } from '../phone-numbers/repo.ts';
import type { MediaIngestBody, MediaIngestData } from './schemas.ts';
import { openSource, parseSourceUrl, SourceRefused, SourceUnusable } from './source.ts';

const MB = 1024 * 1024;

/** The types Meta accepts for WhatsApp media, by kind, with each kind's size limit. */
const KINDS: { limit: number; types: string[] }[] = [
  { limit: 5 * MB, types: ['image/jpeg', 'image/png', 'image/webp'] },
  { limit: 16 * MB, types: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg', 'video/mp4', 'video/3gpp'] },
  {
    limit: 100 * MB,
    types: [
      'text/plain', 'application/pdf', 'application/msword', 'application/vnd.ms-excel', 'application/vnd.ms-powerpoint',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    ],
  },
];

const BY_EXTENSION: Record<string, string> = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.aac': 'audio/aac', '.amr': 'audio/amr',
  '.mp3': 'audio/mpeg', '.m4a': 'audio/mp4', '.ogg': 'audio/ogg', '.opus': 'audio/ogg', '.mp4': 'video/mp4', '.3gp': 'video/3gpp',
  '.txt': 'text/plain', '.pdf': 'application/pdf', '.doc': 'application/msword', '.xls': 'application/vnd.ms-excel',
  '.ppt': 'application/vnd.ms-powerpoint', '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', '.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

export function sizeLimitFor(mimeType: string): number | null {
  return KINDS.find((kind) => kind.types.includes(mimeType))?.limit ?? null;
}

const tooLarge = (size: number | null, limit: number, mimeType: string) =>
  new ApiError(413, `File size ${size === null ? `more than ${limit}` : size} bytes exceeds limit of ${limit} bytes for ${mimeType}`);

function filenameFrom(disposition: string | null, url: URL): string | null {
  const star = disposition && /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim().replace(/^"|"$/g, ''));
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = disposition && /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
  if (plain) return plain[1]!.trim();
  const last = url.pathname.split('/').filter(Boolean).pop();
  if (!last) return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** A multipart form field name or filename, quoted as RFC 7578 asks. */
const quoted = (value: string) => `"${value.replace(/[\r\n"]/g, (c) => encodeURIComponent(c))}"`;

function metaErrorText(body: unknown): string {
  const error = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string' ? error.message : 'the upload was refused';
}

export interface MediaIngestDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  allowPrivate: boolean;
}

export async function ingestMedia(deps: MediaIngestDeps, projectId: string, body: MediaIngestBody): Promise<MediaIngestData> {
  const input = body.media_ingest;
  if ((input.delivery ?? 'meta_media') !== 'meta_media') {
    throw badRequest('delivery meta_resumable_asset is not available on this server; use meta_media');
  }
  const number = (await findByMetaIdOrWaba(deps.db, projectId, input.phone_number_id)).find((n) => n.phone_number_id === input.phone_number_id);
  if (!number) throw notFound('WhatsApp phone number not found or not accessible in this project');
  const sourceUrl = parseSourceUrl(input.source);
  if (!sourceUrl) throw badRequest('Source URL must be a valid HTTP or HTTPS URL');

  // A type given by the caller is checked before anything is downloaded.
  const hinted = input.mime_type?.split(';')[0]!.trim().toLowerCase();
  if (hinted !== undefined && sizeLimitFor(hinted) === null) throw badRequest(`Invalid MIME type: ${hinted} not supported by Meta`);

  let source;
  try {
    source = await openSource(sourceUrl, deps.allowPrivate);
  } catch (error) {
    if (error instanceof SourceRefused) throw new ApiError(403, error.message);
    if (error instanceof SourceUnusable) throw badRequest(`Could not fetch the source: ${error.message}`);
    throw error;
  }
  const body$ = source.body;
  try {
    const filename = input.filename ?? filenameFrom(source.contentDisposition, source.url) ?? 'file';
    const byExtension = BY_EXTENSION[path.extname(filename).toLowerCase()] ?? BY_EXTENSION[path.extname(source.url.pathname).toLowerCase()];
    const mimeType = hinted ?? (source.contentType && sizeLimitFor(source.contentType) !== null ? source.contentType : (byExtension ?? source.contentType ?? 'application/octet-stream'));
    const limit = sizeLimitFor(mimeType);
    if (limit === null) throw badRequest(`Invalid MIME type: ${mimeType} not supported by Meta`);
    if (source.contentLength !== null && source.contentLength > limit) throw tooLarge(source.contentLength, limit, mimeType);

    const boundary = `----parley${randomBytes(12).toString('hex')}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\n${mimeType}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=${quoted(filename)}\r\nContent-Type: ${mimeType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const hash = createHash('sha256');
    let size = 0;
    let exceeded = false;
    async function* multipart() {
      yield head;
      for await (const chunk of body$) {
        size += (chunk as Buffer).length;
        if (size > limit!) {
          exceeded = true;
          throw new Error('source larger than its limit');
        }
        hash.update(chunk as Buffer);
        yield chunk as Buffer;
      }
      yield tail;
    }
    let reply;
    try {
      reply = await deps.graph.callJson({
        method: 'POST',
        version: DEFAULT_GRAPH_VERSION,
        path: `${encodeURIComponent(number.phone_number_id)}/media`,
        sealedToken: number.access_token_sealed,
        contentType: `multipart/form-data; boundary=${boundary}`,
        contentLength: source.contentLength === null ? undefined : head.length + source.contentLength + tail.length,
        body: Readable.from(multipart()),
        timeoutMs: 10 * 60 * 1000,
      });
    } catch (error) {
      if (exceeded) throw tooLarge(null, limit, mimeType);
      if (error instanceof GraphUnavailableError) throw new ApiError(502, `Meta API error: ${error.message}`);
      throw error;
    }
    if (exceeded) throw tooLarge(null, limit, mimeType);
    const id = (reply.body as { id?: unknown } | null)?.id;
    if (reply.status === 429) throw new ApiError(429, 'Meta API rate limit exceeded. Retry after 60 seconds', { headers: { 'retry-after': '60' } });
    if (reply.status !== 200 || typeof id !== 'string') throw new ApiError(502, `Meta API error: ${metaErrorText(reply.body)}`);
    return {
      ingest_id: randomUUID(),
      target: { kind: 'meta_media', media_id: id },
      resource: { filename, mime_type: mimeType, size_bytes: size, sha256: hash.digest('hex'), source_url: sourceUrl.toString() },
    };
  } finally {
    body$.destroy();
  }
}
