// The send path, part 1: every node keeps the connected numbers the proxy resolves (with their tokens)
// in memory (src/phone-numbers/number-cache.ts). Any write to phone_numbers, from any node, the
// CLI or plain SQL, tells every listening node which project's numbers to read again (channel
// NUMBERS_CHANGED_CHANNEL there). Part 2: the recording of a send reads a known contact directly.
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

  // parley_outbound_message of 0007 with one change: a send to a number that is a contact
  // already reads the contact directly. Same rows, events and answer as before.
  await sql`
    CREATE OR REPLACE FUNCTION parley_outbound_message(p_project uuid, p_number uuid, p_number_id text, p_idle_hours integer, m jsonb)
    RETURNS TABLE (recorded_message uuid, recorded_conversation uuid) LANGUAGE plpgsql AS $$
    DECLARE
      v_contact uuid;
      v_conversation uuid;
      v_stale boolean;
      v_message uuid;
      v_at timestamptz := (m->>'at')::timestamptz;
      v_parked jsonb;
    BEGIN
      -- A known recipient named by number only: the one read parley_inbound_contact would make,
      -- without its call and checks (it would change nothing on such a contact).
      IF m->>'bsuid' IS NULL AND m->>'wa_id' IS NOT NULL THEN
        SELECT k.id INTO v_contact FROM contacts k WHERE k.project_id = p_project AND k.erased_at IS NULL AND k.wa_id = m->>'wa_id' LIMIT 1;
      END IF;
      IF v_contact IS NULL THEN
        v_contact := parley_inbound_contact(p_project, m->>'wa_id', m->>'bsuid', NULL, NULL, NULL);
      END IF;
      LOOP
        SELECT c.id, (c.last_active_at < v_at - make_interval(hours => p_idle_hours)) INTO v_conversation, v_stale
        FROM conversations c WHERE c.phone_number_internal_id = p_number AND c.contact_id = v_contact AND c.status = 'active'
        FOR UPDATE;
        IF v_conversation IS NULL THEN
          INSERT INTO conversations AS c (project_id, phone_number_internal_id, phone_number_id, contact_id, last_active_at)
          VALUES (p_project, p_number, p_number_id, v_contact, v_at)
          ON CONFLICT (phone_number_internal_id, contact_id) WHERE status = 'active'
          DO UPDATE SET status = 'active'
          RETURNING c.id, (c.last_active_at < v_at - make_interval(hours => p_idle_hours)) INTO v_conversation, v_stale;
        END IF;
        EXIT WHEN NOT v_stale;
        UPDATE conversations c SET status = 'ended', ended_at = clock_timestamp(), updated_at = clock_timestamp() WHERE c.id = v_conversation AND c.status = 'active';
        v_conversation := NULL;
      END LOOP;

      INSERT INTO messages AS x (project_id, wamid, conversation_id, contact_id, phone_number_id, direction, type, status, sent_at, payload, has_media, content)
      VALUES (p_project, m->>'wamid', v_conversation, v_contact, p_number_id, 'outbound', m->>'type', 'sent', v_at, m->'payload', (m->>'has_media')::boolean, m->>'content')
      ON CONFLICT (project_id, wamid) DO NOTHING
      RETURNING x.id INTO v_message;
      IF v_message IS NULL THEN
        RETURN;
      END IF;

      UPDATE conversations c SET
        messages_count = c.messages_count + 1,
        last_message_id = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= v_at THEN m->>'wamid' ELSE c.last_message_id END,
        last_message_type = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= v_at THEN m->>'type' ELSE c.last_message_type END,
        last_message_text = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= v_at THEN m->>'content' ELSE c.last_message_text END,
        last_message_at = greatest(c.last_message_at, v_at),
        last_outbound_at = greatest(c.last_outbound_at, v_at),
        last_active_at = greatest(c.last_active_at, v_at),
        updated_at = clock_timestamp()
      WHERE c.id = v_conversation;

      -- A status webhook can beat the send's own answer here (Meta sends it as soon as it has
      -- the message); it was parked and now applies.
      FOR v_parked IN DELETE FROM pending_statuses p WHERE p.project_id = p_project AND p.wamid = m->>'wamid' RETURNING p.status LOOP
        UPDATE messages x SET
          status = CASE WHEN parley_status_rank(v_parked->>'status') > parley_status_rank(x.status) THEN v_parked->>'status' ELSE x.status END,
          statuses = CASE WHEN x.statuses @> jsonb_build_array(v_parked) THEN x.statuses ELSE x.statuses || jsonb_build_array(v_parked) END
        WHERE x.project_id = p_project AND x.wamid = m->>'wamid';
      END LOOP;

      recorded_message := v_message;
      recorded_conversation := v_conversation;
      RETURN NEXT;
    END $$`.execute(db);
}

// parley_outbound_message is left as 0014 defined it: it writes exactly what 0007's did, and a
// down of 0007 drops it.
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS phone_numbers_changed ON phone_numbers`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_phone_numbers_changed()`.execute(db);
}
