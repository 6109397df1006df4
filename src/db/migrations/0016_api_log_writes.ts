// The API log is written by every request of every node, so each row's cost is paid at the
// request rate. Two costs go:
// - the foreign key to projects: a check (and a row lock on the project) per inserted row, for
//   projects that are never deleted; rows of a project deleted by hand are purged at 30 days
//   with every other row;
// - random row ids: a new row's id comes from its time (a UUIDv7 of the request's millisecond),
//   so the primary key grows at its right edge instead of touching a random page per row. The
//   ids stay UUIDs, unique and unguessable in their 74 random bits.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_logs DROP CONSTRAINT IF EXISTS api_logs_project_id_fkey`.execute(db);
  // The version nibble of gen_random_uuid() is 4 (0100); bits 52 and 53 turn it into 7 (0111).
  await sql`
    CREATE FUNCTION parley_uuid_v7(p_epoch_ms double precision) RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
      SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING substring(int8send(p_epoch_ms::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS parley_uuid_v7(double precision)`.execute(db);
  await sql`DELETE FROM api_logs l WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = l.project_id)`.execute(db);
  await sql`ALTER TABLE api_logs ADD CONSTRAINT api_logs_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE`.execute(db);
}
