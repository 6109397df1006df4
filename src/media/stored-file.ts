// Reading a stored file back: one chunk per query, pulled only as fast as the client reads, so
// serving a 100 MB file holds one 256 KiB chunk in memory at a time.
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { findMediaFile, type MediaFileRow, readMediaChunk } from './repo.ts';

export async function openStoredFile(db: Kysely<Database>, projectId: string, fileId: string): Promise<{ file: MediaFileRow; stream: Readable } | null> {
  const file = await findMediaFile(db, projectId, fileId);
  if (!file) return null;
  async function* chunks() {
    for (let seq = 0; ; seq++) {
      const data = await readMediaChunk(db, file!.id, seq);
      if (data === undefined) return;
      yield data;
    }
  }
  return { file, stream: Readable.from(chunks(), { objectMode: false }) };
}
