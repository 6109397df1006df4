// The inbound worker's common path in one database call: a run of stored Meta bodies that hold
// only ordinary messages (no statuses, no system messages) is processed by
// parley_ingest_messages in a single round trip, instead of ~9 statements per message sent one
// by one from Node. It does exactly what src/meta-inbound/processor.ts does for such a body,
// statement for statement and in the same order (contacts, conversation, message, counters,
// parked statuses, meta.raw outbox row, event state), so the AFTER triggers of 0003 fire as they
// do for the TypeScript path. Keep the two in step: the inbound tests run both.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Order of message statuses: a message never moves back (failed is final). As in
  // src/messages/ingest-repo.ts (rank).
  await sql`
    CREATE FUNCTION parley_status_rank(p_status text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE p_status WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 ELSE -1 END
    $$`.execute(db);

  // The contact of an inbound sender, found BSUID first, then by number; created when unknown;
  // filled in with what Meta says (a known number is never replaced by an empty one, and an
  // identifier another contact holds is not taken). As upsertContact/fill in
  // src/meta-inbound/contacts.ts.
  await sql`
    CREATE FUNCTION parley_inbound_contact(p_project uuid, p_wa_id text, p_bsuid text, p_parent text, p_username text, p_name text)
    RETURNS uuid LANGUAGE plpgsql AS $$
    DECLARE
      f_id uuid;
      f_wa_id text;
      f_bsuid text;
      f_parent text;
      f_username text;
      f_name text;
      new_wa_id text;
      new_bsuid text;
    BEGIN
      FOR attempt IN 1..3 LOOP
        f_id := NULL;
        IF p_bsuid IS NOT NULL THEN
          SELECT id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name
          INTO f_id, f_wa_id, f_bsuid, f_parent, f_username, f_name
          FROM contacts WHERE project_id = p_project AND erased_at IS NULL AND business_scoped_user_id = p_bsuid LIMIT 1;
        END IF;
        IF f_id IS NULL AND p_wa_id IS NOT NULL THEN
          SELECT id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name
          INTO f_id, f_wa_id, f_bsuid, f_parent, f_username, f_name
          FROM contacts WHERE project_id = p_project AND erased_at IS NULL AND wa_id = p_wa_id LIMIT 1;
        END IF;
        IF f_id IS NOT NULL THEN
          IF p_wa_id IS NOT NULL AND p_wa_id IS DISTINCT FROM f_wa_id AND NOT EXISTS (
            SELECT 1 FROM contacts WHERE project_id = p_project AND erased_at IS NULL AND wa_id = p_wa_id AND id <> f_id) THEN
            new_wa_id := p_wa_id;
          END IF;
          IF p_bsuid IS NOT NULL AND p_bsuid IS DISTINCT FROM f_bsuid AND NOT EXISTS (
            SELECT 1 FROM contacts WHERE project_id = p_project AND erased_at IS NULL AND business_scoped_user_id = p_bsuid AND id <> f_id) THEN
            new_bsuid := p_bsuid;
          END IF;
          IF (p_name IS NOT NULL AND p_name IS DISTINCT FROM f_name)
             OR (p_username IS NOT NULL AND p_username IS DISTINCT FROM f_username)
             OR (p_parent IS NOT NULL AND p_parent IS DISTINCT FROM f_parent)
             OR new_wa_id IS NOT NULL OR new_bsuid IS NOT NULL THEN
            UPDATE contacts SET
              profile_name = coalesce(p_name, profile_name),
              username = coalesce(p_username, username),
              parent_business_scoped_user_id = coalesce(p_parent, parent_business_scoped_user_id),
              wa_id = coalesce(new_wa_id, wa_id),
              business_scoped_user_id = coalesce(new_bsuid, business_scoped_user_id)
            WHERE project_id = p_project AND id = f_id;
          END IF;
          RETURN f_id;
        END IF;
        INSERT INTO contacts (project_id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username, profile_name)
        VALUES (p_project, p_wa_id, p_bsuid, p_parent, p_username, p_name)
        ON CONFLICT DO NOTHING
        RETURNING id INTO f_id;
        IF f_id IS NOT NULL THEN
          RETURN f_id;
        END IF;
        -- Another worker inserted the same user between our read and write: read again.
      END LOOP;
      RAISE EXCEPTION 'could not settle the contact for an inbound identity';
    END $$`.execute(db);

  // One ordinary inbound message: contact, active conversation (a stale one is ended first),
  // the message once per wamid, the counters, and statuses that arrived before it. As
  // ingestMessage in src/meta-inbound/processor.ts.
  await sql`
    CREATE FUNCTION parley_inbound_message(p_project uuid, p_number uuid, p_number_id text, p_idle_hours integer, m jsonb)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      v_contact uuid;
      v_conversation uuid;
      v_stale boolean;
      v_message uuid;
      v_at timestamptz := (m->>'at')::timestamptz;
      v_parked jsonb;
    BEGIN
      v_contact := parley_inbound_contact(p_project, m->>'wa_id', m->>'bsuid', m->>'parent_bsuid', m->>'username', m->>'profile_name');
      LOOP
        -- The usual case, an open conversation, is locked as it is (as the upsert below would
        -- lock it) without writing a new row version for the upsert's no-op update.
        SELECT id, (last_active_at < v_at - make_interval(hours => p_idle_hours)) INTO v_conversation, v_stale
        FROM conversations WHERE phone_number_internal_id = p_number AND contact_id = v_contact AND status = 'active'
        FOR UPDATE;
        IF v_conversation IS NULL THEN
          INSERT INTO conversations (project_id, phone_number_internal_id, phone_number_id, contact_id, last_active_at)
          VALUES (p_project, p_number, p_number_id, v_contact, v_at)
          ON CONFLICT (phone_number_internal_id, contact_id) WHERE status = 'active'
          DO UPDATE SET status = 'active'
          RETURNING id, (last_active_at < v_at - make_interval(hours => p_idle_hours)) INTO v_conversation, v_stale;
        END IF;
        EXIT WHEN NOT v_stale;
        UPDATE conversations SET status = 'ended', ended_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = v_conversation AND status = 'active';
        v_conversation := NULL;
      END LOOP;

      INSERT INTO messages (project_id, wamid, conversation_id, contact_id, phone_number_id, direction, type, status, sent_at, payload, has_media, content)
      VALUES (p_project, m->>'wamid', v_conversation, v_contact, p_number_id, 'inbound', m->>'type', 'delivered', v_at, m->'payload', (m->>'has_media')::boolean, m->>'content')
      ON CONFLICT (project_id, wamid) DO NOTHING
      RETURNING id INTO v_message;
      IF v_message IS NULL THEN
        RETURN; -- already stored: a redelivery
      END IF;

      UPDATE conversations SET
        messages_count = messages_count + 1,
        last_message_id = CASE WHEN last_message_at IS NULL OR last_message_at <= v_at THEN m->>'wamid' ELSE last_message_id END,
        last_message_type = CASE WHEN last_message_at IS NULL OR last_message_at <= v_at THEN m->>'type' ELSE last_message_type END,
        last_message_text = CASE WHEN last_message_at IS NULL OR last_message_at <= v_at THEN m->>'content' ELSE last_message_text END,
        last_message_at = greatest(last_message_at, v_at),
        last_inbound_at = greatest(last_inbound_at, v_at),
        last_active_at = greatest(last_active_at, v_at),
        updated_at = clock_timestamp()
      WHERE id = v_conversation;

      FOR v_parked IN DELETE FROM pending_statuses WHERE project_id = p_project AND wamid = m->>'wamid' RETURNING status LOOP
        UPDATE messages SET
          status = CASE WHEN parley_status_rank(v_parked->>'status') > parley_status_rank(status) THEN v_parked->>'status' ELSE status END,
          statuses = CASE WHEN statuses @> jsonb_build_array(v_parked) THEN statuses ELSE statuses || jsonb_build_array(v_parked) END
        WHERE project_id = p_project AND wamid = m->>'wamid';
      END LOOP;
    END $$`.execute(db);

  // A run of bodies, in order: [{event, numbers: [{project_id, internal_id, phone_number_id}],
  // messages: [{number: index into numbers, wamid, type, at, content, has_media, payload,
  // wa_id, bsuid, parent_bsuid, username, profile_name}]}]. Each body's messages, then its
  // meta.raw outbox rows (as emitMetaRaw in src/webhooks/outbox-repo.ts); the states of all
  // of them at the end (one statement; it is all one transaction). Any error aborts the whole
  // call: the worker then redoes the run body by body.
  await sql`
    CREATE FUNCTION parley_ingest_messages(p_bodies jsonb, p_idle_hours integer) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      v_body jsonb;
      v_numbers jsonb;
      v_number jsonb;
      v_message jsonb;
      v_events bigint[] := '{}';
      -- Meta numbers (phone_number_id) with an active meta webhook, looked up once per call.
      v_forwarded text[];
    BEGIN
      SELECT coalesce(array_agg(DISTINCT w.phone_number_id), '{}') INTO v_forwarded
      FROM jsonb_array_elements(p_bodies) b, jsonb_array_elements(b.value->'numbers') n, webhooks w
      WHERE w.project_id = (n.value->>'project_id')::uuid AND w.phone_number_id = n.value->>'phone_number_id' AND w.kind = 'meta' AND w.active;
      FOR v_body IN SELECT value FROM jsonb_array_elements(p_bodies) LOOP
        v_numbers := v_body->'numbers';
        FOR v_message IN SELECT value FROM jsonb_array_elements(v_body->'messages') LOOP
          v_number := v_numbers->((v_message->>'number')::integer);
          PERFORM parley_inbound_message((v_number->>'project_id')::uuid, (v_number->>'internal_id')::uuid, v_number->>'phone_number_id', p_idle_hours, v_message);
        END LOOP;
        FOR v_number IN SELECT value FROM jsonb_array_elements(v_numbers) LOOP
          IF v_number->>'phone_number_id' = ANY (v_forwarded) THEN
            INSERT INTO webhook_events (project_id, phone_number_id, event, subject)
            VALUES ((v_number->>'project_id')::uuid, v_number->>'phone_number_id', 'meta.raw', jsonb_build_object('meta_event_id', (v_body->>'event')::bigint));
            PERFORM pg_notify('parley_webhook_events', '');
          END IF;
        END LOOP;
        v_events := v_events || (v_body->>'event')::bigint;
      END LOOP;
      UPDATE meta_events SET state = 'processed', note = NULL, processed_at = now() WHERE id = ANY (v_events);
      RETURN cardinality(v_events);
    END $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS parley_ingest_messages(jsonb, integer)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_inbound_message(uuid, uuid, text, integer, jsonb)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_inbound_contact(uuid, text, text, text, text, text)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_status_rank(text)`.execute(db);
}
