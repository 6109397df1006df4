// The access log of API keys (GET /platform/v1/api_logs) and optional names for keys.
//
// Rows are written in batches by src/api-logs/recorder.ts and read per project, newest first,
// optionally narrowed to one status or to errors; the indexes serve those reads and the keyset
// paging of (created_at, id). The key's id and name are copied into the row: a log line says
// which key made the request as it was named then. No foreign key to api_keys: keys are never
// deleted, and a check per inserted row would buy nothing.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys ADD COLUMN name text`.execute(db);
  await sql`
    CREATE TABLE api_logs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      api_key_id uuid,
      api_key_name text,
      created_at timestamptz NOT NULL,
      method text NOT NULL,
      endpoint text NOT NULL,
      status_code smallint NOT NULL,
      response_time_ms double precision NOT NULL,
      ip text,
      error_message text
    )`.execute(db);
  await sql`CREATE INDEX api_logs_project_idx ON api_logs (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX api_logs_project_errors_idx ON api_logs (project_id, created_at DESC, id DESC) WHERE status_code >= 400`.execute(db);
  await sql`CREATE INDEX api_logs_project_status_idx ON api_logs (project_id, status_code, created_at DESC, id DESC)`.execute(db);
  // The retention purge reads across projects by age.
  await sql`CREATE INDEX api_logs_created_idx ON api_logs (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS api_logs`.execute(db);
  await sql`ALTER TABLE api_keys DROP COLUMN IF EXISTS name`.execute(db);
}
