// SQL of stored media: the files fetched for inbound messages and their 256 KiB chunks, and the
// fetch jobs queued for them. Every read takes the project id; the job's own reads take the ids
// the job was queued with.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { JOBS_CHANNEL } from '../jobs/repo.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** The job kind that fetches one inbound message's media from Meta into media_files. */
export const MEDIA_FETCH_JOB = 'media.fetch';

export interface MediaFileRow {
  id: string;
  project_id: string;
  message_id: string;
  media_id: string;
  mime_type: string;
  filename: string | null;
  byte_size: number;
  sha256: string;
}

/** An inbound media message with what it takes to fetch its file. */
export interface MediaToFetch {
  message_id: string;
  project_id: string;
  type: string;
  payload: unknown;
  phone_number_id: string;
  /** Null when the number has been deleted since (nothing can fetch the file any more). */
  access_token_sealed: Buffer | null;
  /** Set when the file has been stored already (a second job for the same message). */
  file_id: string | null;
}

/**
 * Queues a fetch for each named message that carries a media id and has neither a stored file
 * nor a fetch waiting. Runs in the transaction that stored the messages, so a job exists exactly
 * when its message does; a redelivered body queues nothing new.
 */
export async function queueMediaFetches(tx: Transaction<Database>, projectId: string, wamids: readonly string[]): Promise<number> {
  if (wamids.length === 0) return 0;
  const result = await sql`
    INSERT INTO jobs (kind, payload)
    SELECT ${MEDIA_FETCH_JOB}, jsonb_build_object('project_id', m.project_id, 'message_id', m.id)
    FROM messages m
    WHERE m.project_id = ${projectId} AND m.wamid = ANY(${wamids as string[]}::text[])
      AND m.direction = 'inbound' AND m.has_media AND (m.payload -> m.type ->> 'id') IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM media_files f WHERE f.message_id = m.id)
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = ${MEDIA_FETCH_JOB} AND j.failed_at IS NULL AND j.payload ->> 'message_id' = m.id::text)`.execute(tx);
  const queued = Number(result.numAffectedRows ?? 0);
  if (queued > 0) await sql`SELECT pg_notify(${JOBS_CHANNEL}, ${MEDIA_FETCH_JOB})`.execute(tx);
  return queued;
}

export async function findMediaToFetch(db: Executor, projectId: string, messageId: string): Promise<MediaToFetch | undefined> {
  const result = await sql<MediaToFetch>`
    SELECT m.id AS message_id, m.project_id, m.type, m.payload, m.phone_number_id, p.access_token_sealed, f.id AS file_id
    FROM messages m
    LEFT JOIN phone_numbers p ON p.project_id = m.project_id AND p.phone_number_id = m.phone_number_id AND p.deleted_at IS NULL
    LEFT JOIN media_files f ON f.message_id = m.id
    WHERE m.project_id = ${projectId} AND m.id = ${messageId}
    LIMIT 1`.execute(db);
  return result.rows[0];
}

export async function insertMediaFile(tx: Transaction<Database>, file: Omit<MediaFileRow, 'id' | 'byte_size' | 'sha256'>): Promise<string> {
  const row = await tx
    .insertInto('media_files')
    .values({ ...file, byte_size: 0, sha256: '' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function insertMediaChunk(tx: Transaction<Database>, fileId: string, seq: number, data: Buffer): Promise<void> {
  await tx.insertInto('media_chunks').values({ file_id: fileId, seq, data }).execute();
}

export async function completeMediaFile(tx: Transaction<Database>, fileId: string, byteSize: number, sha256: string): Promise<void> {
  await tx.updateTable('media_files').set({ byte_size: byteSize, sha256 }).where('id', '=', fileId).execute();
}

export async function findMediaFile(db: Executor, projectId: string, fileId: string): Promise<MediaFileRow | undefined> {
  return db
    .selectFrom('media_files')
    .select(['id', 'project_id', 'message_id', 'media_id', 'mime_type', 'filename', 'byte_size', 'sha256'])
    .where('project_id', '=', projectId)
    .where('id', '=', fileId)
    .executeTakeFirst();
}

/** The bytes of chunk `seq`, or undefined past the last one. */
export async function readMediaChunk(db: Executor, fileId: string, seq: number): Promise<Buffer | undefined> {
  const row = await db.selectFrom('media_chunks').select('data').where('file_id', '=', fileId).where('seq', '=', seq).executeTakeFirst();
  return row?.data;
}
