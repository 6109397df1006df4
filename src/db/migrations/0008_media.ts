// Media that users send, fetched from Meta and kept in PostgreSQL so that every node can serve
// it: one row per file, its bytes in 256 KiB chunks so that neither a write nor a read ever
// holds a whole file (up to 100 MB) in one value.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE media_files (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      message_id uuid NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
      media_id text NOT NULL,
      mime_type text NOT NULL,
      filename text,
      byte_size integer NOT NULL CHECK (byte_size >= 0),
      sha256 text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX media_files_project_idx ON media_files (project_id, id)`.execute(db);
  await sql`
    CREATE TABLE media_chunks (
      file_id uuid NOT NULL REFERENCES media_files(id) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq >= 0),
      data bytea NOT NULL,
      PRIMARY KEY (file_id, seq)
    )`.execute(db);
  // A redelivered message must not queue a second fetch while the first waits (src/media/repo.ts).
  await sql`CREATE INDEX jobs_media_fetch_message_idx ON jobs ((payload ->> 'message_id')) WHERE kind = 'media.fetch'`.execute(db);
  // Images, audio and video arrive compressed already: compressing them again costs CPU for nothing.
  await sql`ALTER TABLE media_chunks ALTER COLUMN data SET STORAGE EXTERNAL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX jobs_media_fetch_message_idx`.execute(db);
  await sql`DROP TABLE media_chunks`.execute(db);
  await sql`DROP TABLE media_files`.execute(db);
}
