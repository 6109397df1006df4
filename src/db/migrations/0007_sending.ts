// Sending: the cache of each WABA's message templates (the send path asks it for a template's
// category before a marketing check), and the recording of an outbound message in one call.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Filled from what passes through the proxy (lists, creations) and from Meta's template
  // webhooks; never the authority on a template, only a recent copy of Meta's answer.
  await sql`
    CREATE TABLE whatsapp_templates (
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      business_account_id text NOT NULL,
      template_id text NOT NULL,
      name text NOT NULL,
      language text NOT NULL,
      category text,
      status text,
      components jsonb NOT NULL DEFAULT '[]',
      parameter_format text,
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (project_id, business_account_id, template_id)
    )`.execute(db);
  await sql`CREATE INDEX whatsapp_templates_name_idx ON whatsapp_templates (project_id, business_account_id, name, language)`.execute(db);

  // One outbound message that Meta accepted: contact (created when unknown), active conversation
  // (opened when none; an idle one is ended first), the message once per wamid, the counters and
  // statuses that arrived before it. The same steps, in the same order, as
  // parley_inbound_message (0004), so the triggers of 0003 see what they see for inbound and
  // whatsapp.message.sent fires with is_new_conversation. One statement: one round trip and its
  // own transaction. Returns nothing when the wamid is stored already.
  //   m: {wamid, type, at, content, has_media, payload, wa_id, bsuid}
  await sql`
    CREATE FUNCTION parley_outbound_message(p_project uuid, p_number uuid, p_number_id text, p_idle_hours integer, m jsonb)
    RETURNS TABLE (recorded_message uuid, recorded_conversation uuid) LANGUAGE plpgsql AS $$
    DECLARE
      v_contact uuid;
      v_conversation uuid;
      v_stale boolean;
      v_message uuid;
      v_at timestamptz := (m->>'at')::timestamptz;
      v_parked jsonb;
    BEGIN
      v_contact := parley_inbound_contact(p_project, m->>'wa_id', m->>'bsuid', NULL, NULL, NULL);
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

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS parley_outbound_message(uuid, uuid, text, integer, jsonb)`.execute(db);
  await sql`DROP TABLE IF EXISTS whatsapp_templates`.execute(db);
}
