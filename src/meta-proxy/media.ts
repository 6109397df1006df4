// Media on the proxy. Uploads are streamed through to Meta (never held whole), media objects
// get Parley's own `download_url`, and that link is served by a route without a key check:
// SDK clients send no credentials to hosts other than Kapso's, so the signed token in the link
// is what authorises the download. Deleting media is a plain passthrough.
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { DEFAULT_GRAPH_VERSION, type GraphClient, type GraphReply } from '../meta-graph/client.ts';
import type { MediaLinkSigner } from '../media/link-signer.ts';
import { openStoredFile } from '../media/stored-file.ts';
import { findByMetaIdOrWaba } from '../phone-numbers/repo.ts';
import { type ProxyContext, type ProxyRoute, publicBase } from './context.ts';
import { ApiError } from '../http/errors.ts';
import { META_LINK_SECONDS } from '../media/links.ts';
import { invalidParameter, MetaError, objectNotFound } from './errors.ts';
import { answerRead, callMeta, isJson, readJson, relay, rewritePaging } from './passthrough.ts';

/** Meta takes documents up to 100 MB; the multipart framing around the file adds a little. */
export const UPLOAD_LIMIT_BYTES = 100 * 1024 * 1024 + 64 * 1024;
/** An upload of 100 MB over a slow link takes minutes, not the seconds a send may. */
const UPLOAD_TIMEOUT_MS = 10 * 60 * 1000;

/** How long a refused upload's remaining bytes are read and dropped before the connection is cut. */
const LINGER_MS = 3_000;

/**
 * The 413 of an upload over the limit. The client is usually still sending: closing at once
 * would reset the connection under it, and it would see the reset instead of the answer. So the
 * rest of its body is read and dropped for a moment (the connection stays usable when it ends in
 * time); a client still sending after LINGER_MS is cut off.
 */
function refuseOversized(ctx: ProxyContext, source: Readable): MetaError {
  source.unpipe();
  source.resume();
  const socket = ctx.request.raw.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  source.once('end', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return new MetaError(413, `Media upload is larger than ${UPLOAD_LIMIT_BYTES} bytes (Meta accepts files up to 100 MB)`, 'OAuthException', 100);
}

/** Passes bytes on and fails the stream once more than `limit` went through. */
class ByteLimit extends Transform {
  seen = 0;
  exceeded = false;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.exceeded = true;
      done(new Error('upload limit exceeded'));
      return;
    }
    done(null, chunk);
  }
}

async function uploadMedia(ctx: ProxyContext): Promise<undefined> {
  const target = ctx.target!;
  const contentType = ctx.request.headers['content-type'];
  if (!ctx.stream || typeof contentType !== 'string' || !/^multipart\/form-data\s*;.*boundary=/i.test(contentType)) {
    throw invalidParameter('Media uploads must be multipart/form-data with a boundary (fields messaging_product, type and file)');
  }
  const declared = Number(ctx.request.headers['content-length']);
  const contentLength = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
  const source = ctx.stream;
  ctx.stream = undefined;
  if (contentLength !== undefined && contentLength > UPLOAD_LIMIT_BYTES) throw refuseOversized(ctx, source);
  const counted = new ByteLimit(UPLOAD_LIMIT_BYTES);
  source.on('error', (error) => counted.destroy(error));
  source.pipe(counted);
  let reply: GraphReply;
  try {
    reply = await callMeta(ctx, target, { stream: counted, contentType, contentLength, timeoutMs: UPLOAD_TIMEOUT_MS });
  } catch (error) {
    if (counted.exceeded) throw refuseOversized(ctx, source);
    throw error;
  }
  if (counted.exceeded) {
    await reply.body.dump();
    throw refuseOversized(ctx, source);
  }
  await relay(ctx, reply);
  return undefined;
}

function isMediaObject(body: unknown): body is { id?: unknown; url: string; mime_type: string } {
  const record = body as Record<string, unknown> | null;
  return record !== null && typeof record === 'object' && typeof record.url === 'string' && typeof record.mime_type === 'string';
}

/** GET {object}: forwarded; a media object comes back with Parley's download link added. */
async function getObject(ctx: ProxyContext): Promise<unknown> {
  const target = ctx.target!;
  const reply = await callMeta(ctx, target);
  if (reply.status !== 200 || !isJson(reply.contentType)) {
    await relay(ctx, reply);
    return undefined;
  }
  const read = await readJson(reply);
  const json = read.json;
  if (json === null) {
    await answerRead(ctx, reply, read);
    return undefined;
  }
  const base = publicBase(ctx);
  if (isMediaObject(json)) {
    const links = ctx.deps.mediaLinks;
    if (!links) throw new Error('media links are not configured on this proxy');
    const mediaId = typeof json.id === 'string' ? json.id : ctx.segments[0]!;
    return { ...json, ...links.forMetaMedia(base, { projectId: ctx.projectId, phoneNumberId: target.number.phone_number_id, mediaId, url: json.url }) };
  }
  rewritePaging(json, base, ctx.version);
  return json;
}

export const mediaRoutes: readonly ProxyRoute[] = [
  { method: 'POST', pattern: ':pnid/media', handler: uploadMedia },
  { method: 'GET', pattern: ':object', handler: getObject },
];

export interface MediaDownloadDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  signer: MediaLinkSigner;
}

/** `inline; filename="…"`, with a UTF-8 form for names that are not plain ASCII. */
function inline(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === filename ? `inline; filename="${filename}"` : `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

const linkNotFound = () => objectNotFound('Media download link is invalid or has expired; get the media again for a new link');

/** GET /meta/whatsapp/media_download?token=…: no API key, the token is the credential. */
export function mediaDownloadRoute(scope: FastifyInstance, deps: MediaDownloadDeps): void {
  scope.get(
    '/media_download',
    { schema: { hide: true, querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 8192 } } } } },
    async (request, reply) => {
      const token = (request.query as { token?: string }).token;
      const grant = token ? deps.signer.verify(token) : null;
      if (!grant) throw linkNotFound();
      if (grant.kind === 'stored') {
        const opened = await openStoredFile(deps.db, grant.projectId, grant.fileId);
        if (!opened) throw linkNotFound();
        return reply
          .code(200)
          .header('content-type', opened.file.mime_type)
          .header('content-length', String(opened.file.byte_size))
          .header('content-disposition', inline(opened.file.filename ?? opened.file.media_id))
          .header('cache-control', 'private')
          .send(opened.stream);
      }
      const number = (await findByMetaIdOrWaba(deps.db, grant.projectId, grant.phoneNumberId)).find((n) => n.phone_number_id === grant.phoneNumberId);
      if (!number) throw linkNotFound();
      let url = grant.url;
      if (url === null) {
        const object = await deps.graph.callJson({
          method: 'GET',
          version: DEFAULT_GRAPH_VERSION,
          path: encodeURIComponent(grant.mediaId),
          query: `phone_number_id=${encodeURIComponent(number.phone_number_id)}`,
          sealedToken: number.access_token_sealed,
        });
        url = isMediaObject(object.body) ? object.body.url : null;
        if (object.status !== 200 || url === null) throw objectNotFound(`Media ${grant.mediaId} is no longer available at Meta`);
      }
      const file = await deps.graph.download(url, number.access_token_sealed);
      if (file.status !== 200) {
        // Meta's refusal (an expired URL, deleted media) is not the client's to read: Kapso answers this.
        await file.body.dump();
        throw new ApiError(502, 'Media download failed', { body: { error: 'Media download failed' } });
      }
      const length = file.headers['content-length'];
      if (typeof length === 'string' && /^\d+$/.test(length)) void reply.header('content-length', length);
      return reply
        .code(200)
        .header('content-type', file.contentType ?? 'application/octet-stream')
        .header('content-disposition', inline(grant.mediaId))
        .header('cache-control', `private, max-age=${META_LINK_SECONDS}`)
        .send(file.body);
    },
  );
}
