// Sending: every node keeps the connected numbers the proxy resolves (with their sealed tokens)
// in memory (src/phone-numbers/number-cache.ts). Any write to phone_numbers, from any node, the
// CLI or plain SQL, tells every listening node which project's numbers to read again (channel
// NUMBERS_CHANGED_CHANNEL there).
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Per row: numbers change seldom, and the payload names the project whose entries go.
  await sql`
    CREATE FUNCTION parley_phone_numbers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('parley_phone_numbers_changed', (CASE WHEN TG_OP = 'DELETE' THEN OLD.project_id ELSE NEW.project_id END)::text);
      IF TG_OP = 'UPDATE' AND OLD.project_id IS DISTINCT FROM NEW.project_id THEN
        PERFORM pg_notify('parley_phone_numbers_changed', OLD.project_id::text);
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER phone_numbers_changed AFTER INSERT OR UPDATE OR DELETE ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION parley_phone_numbers_changed()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS phone_numbers_changed ON phone_numbers`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_phone_numbers_changed()`.execute(db);
}
