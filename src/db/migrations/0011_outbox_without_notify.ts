// No writer's transaction sends a NOTIFY any more. PostgreSQL serialises the commits of all
// transactions that issued NOTIFY behind one cluster-wide lock, so a trigger that notified made
// every concurrent write that queued an outbox row wait for the others' commits. The dispatchers
// are now woken after the commit, from Node (src/webhooks/outbox-signal.ts), and poll as the
// safety net. The bodies below are those of 0003 and 0004 without the PERFORM pg_notify lines.
import { type Kysely, sql } from 'kysely';

const EMIT_TARGETS = sql`
      IF EXISTS (
        SELECT 1 FROM webhooks w
        WHERE w.project_id = p_project AND w.active AND w.kind = 'kapso' AND p_event = ANY (w.events)
          AND (w.phone_number_id IS NULL OR w.phone_number_id = p_number)
      ) THEN
        INSERT INTO webhook_events (project_id, phone_number_id, event, subject) VALUES (p_project, p_number, p_event, p_subject);`;

function emit(notify: boolean) {
  return sql`
    CREATE OR REPLACE FUNCTION parley_emit(p_project uuid, p_number text, p_event text, p_subject jsonb) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN${EMIT_TARGETS}${notify ? sql.raw(`
        PERFORM pg_notify('parley_webhook_events', '');`) : sql``}
      END IF;
    END $$`;
}

function ingest(notify: boolean) {
  return sql`
    CREATE OR REPLACE FUNCTION parley_ingest_messages(p_bodies jsonb, p_idle_hours integer) RETURNS integer LANGUAGE plpgsql AS $$
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
            VALUES ((v_number->>'project_id')::uuid, v_number->>'phone_number_id', 'meta.raw', jsonb_build_object('meta_event_id', (v_body->>'event')::bigint));${notify ? sql.raw(`
            PERFORM pg_notify('parley_webhook_events', '');`) : sql``}
          END IF;
        END LOOP;
        v_events := v_events || (v_body->>'event')::bigint;
      END LOOP;
      UPDATE meta_events SET state = 'processed', note = NULL, processed_at = now() WHERE id = ANY (v_events);
      RETURN cardinality(v_events);
    END $$`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await emit(false).execute(db);
  await ingest(false).execute(db);
}

/** Restores the 0003 and 0004 bodies, NOTIFY included. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await emit(true).execute(db);
  await ingest(true).execute(db);
}
