// The send path, part 3: the sends of one node that arrive while a batch is being written go
// together in the next call (src/sending/recorder.ts): one statement and one commit for many
// sends, each recorded exactly as parley_outbound_message records one, in the order given.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // p_items: [{project, number (internal id), number_id (Meta's), m (the record)}, …]. A send
  // whose wamid is stored already returns no row; `item` is the 0-based position of the others.
  await sql`
    CREATE FUNCTION parley_outbound_messages(p_items jsonb, p_idle_hours integer)
    RETURNS TABLE (item integer, recorded_message uuid, recorded_conversation uuid) LANGUAGE plpgsql AS $$
    DECLARE
      v jsonb;
      i integer := 0;
    BEGIN
      FOR v IN SELECT value FROM jsonb_array_elements(p_items) LOOP
        SELECT r.recorded_message, r.recorded_conversation INTO recorded_message, recorded_conversation
        FROM parley_outbound_message((v->>'project')::uuid, (v->>'number')::uuid, v->>'number_id', p_idle_hours, v->'m') r;
        IF FOUND THEN
          item := i;
          RETURN NEXT;
        END IF;
        i := i + 1;
      END LOOP;
    END $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS parley_outbound_messages(jsonb, integer)`.execute(db);
}
