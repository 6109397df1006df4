// The background fetch of media that users send: Meta's media object is read for its file URL,
// the file is downloaded with the number's token and written to media_chunks as it arrives, in
// one transaction, so a fetch that fails half-way leaves nothing behind and is tried again.
// Retries, backoff and the final failed state (with its error) are the job runner's.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { DEFAULT_GRAPH_VERSION, type GraphClient } from '../meta-graph/client.ts';
import type { JobRegistry } from '../jobs/runner.ts';
import { completeMediaFile, findMediaToFetch, insertMediaChunk, insertMediaFile, MEDIA_FETCH_JOB } from './repo.ts';

/** Stored chunk size: small enough to stream, large enough that a 100 MB file is 400 rows. */
export const CHUNK_BYTES = 256 * 1024;
/** Meta's largest media (documents). */
export const MAX_MEDIA_BYTES = 100 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 120_000;

export interface MediaFetchDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  logger: Logger;
}

/** Meta's error text from a Graph error body, for the job's visible error. */
function metaMessage(body: unknown): string {
  const error = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string' ? error.message : typeof body === 'string' ? body.slice(0, 200) : 'no error message';
}

/** Fetches and stores the media of one message; done (without a call) when it is stored already or gone. */
export async function fetchMessageMedia(deps: MediaFetchDeps, projectId: string, messageId: string): Promise<void> {
  const message = await findMediaToFetch(deps.db, projectId, messageId);
  if (!message || message.file_id !== null) return;
  if (message.access_token_sealed === null) throw new Error(`phone number ${message.phone_number_id} is no longer connected; its media cannot be fetched`);
  const payload = (message.payload ?? {}) as Record<string, { id?: unknown; filename?: unknown; mime_type?: unknown } | undefined>;
  const media = payload[message.type];
  if (typeof media?.id !== 'string') return;

  const object = await deps.graph.callJson({
    method: 'GET',
    version: DEFAULT_GRAPH_VERSION,
    path: encodeURIComponent(media.id),
    query: `phone_number_id=${encodeURIComponent(message.phone_number_id)}`,
    sealedToken: message.access_token_sealed,
  });
  if (object.status !== 200) throw new Error(`Meta answered ${object.status} for media ${media.id}: ${metaMessage(object.body)}`);
  const described = (object.body ?? {}) as { url?: unknown; mime_type?: unknown; file_size?: unknown };
  if (typeof described.url !== 'string') throw new Error(`Meta's media object ${media.id} has no url`);
  // Meta sends file_size as a number; Kapso documents it as a string of digits.
  const declaredSize = Number(described.file_size);
  if (Number.isFinite(declaredSize) && declaredSize > MAX_MEDIA_BYTES) {
    throw new Error(`media ${media.id} is ${declaredSize} bytes, more than the ${MAX_MEDIA_BYTES} Parley stores`);
  }

  const download = await deps.graph.download(described.url, message.access_token_sealed, FETCH_TIMEOUT_MS);
  if (download.status !== 200) {
    const text = await download.body.text().catch(() => '');
    throw new Error(`Meta's media host answered ${download.status} for media ${media.id}: ${text.slice(0, 200)}`);
  }
  const mimeType = (typeof described.mime_type === 'string' ? described.mime_type : null) ?? (typeof media.mime_type === 'string' ? media.mime_type : null) ?? download.contentType ?? 'application/octet-stream';
  const filename = typeof media.filename === 'string' && media.filename !== '' ? media.filename : null;

  try {
    await deps.db.transaction().execute(async (tx) => {
      const fileId = await insertMediaFile(tx, { project_id: projectId, message_id: messageId, media_id: media.id as string, mime_type: mimeType, filename });
      const hash = createHash('sha256');
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let total = 0;
      let seq = 0;
      const flush = async (all: boolean) => {
        while (pendingBytes >= CHUNK_BYTES || (all && pendingBytes > 0)) {
          const joined = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          const piece = joined.subarray(0, CHUNK_BYTES);
          const rest = joined.subarray(piece.length);
          await insertMediaChunk(tx, fileId, seq++, piece);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      };
      for await (const chunk of download.body) {
        const bytes = chunk as Buffer;
        total += bytes.length;
        if (total > MAX_MEDIA_BYTES) throw new Error(`media ${media.id} is larger than the ${MAX_MEDIA_BYTES} bytes Parley stores`);
        hash.update(bytes);
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= CHUNK_BYTES) await flush(false);
      }
      await flush(true);
      await completeMediaFile(tx, fileId, total, hash.digest('hex'));
    });
  } finally {
    // A failed write leaves the download half-read: free the connection either way.
    download.body.destroy();
  }
  deps.logger.debug({ message: messageId, media: media.id }, 'stored inbound media');
}

/** The job kinds of media; run by a runner of their own so that large downloads never hold up other jobs. */
export function mediaJobRegistry(deps: MediaFetchDeps, options: { maxAttempts?: number } = {}): JobRegistry {
  return {
    [MEDIA_FETCH_JOB]: {
      maxAttempts: options.maxAttempts ?? 8,
      run: async (payload) => {
        const { project_id: projectId, message_id: messageId } = payload as { project_id?: unknown; message_id?: unknown };
        if (typeof projectId !== 'string' || typeof messageId !== 'string') throw new Error('media.fetch job without project_id and message_id');
        await fetchMessageMedia(deps, projectId, messageId);
      },
    },
  };
}
