// Outbound webhooks: the users' endpoints, the outbox of events (written by triggers in the
// same transaction as the change that causes them), deliveries and their attempts.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhooks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      phone_number_id text,
      url text NOT NULL,
      kind text NOT NULL DEFAULT 'kapso' CHECK (kind IN ('kapso', 'meta')),
      events text[] NOT NULL DEFAULT '{}',
      active boolean NOT NULL DEFAULT true,
      secret_key text,
      headers jsonb,
      buffer_enabled boolean NOT NULL DEFAULT false,
      buffer_window_seconds integer NOT NULL DEFAULT 5 CHECK (buffer_window_seconds BETWEEN 1 AND 60),
      max_buffer_size integer NOT NULL DEFAULT 50 CHECK (max_buffer_size BETWEEN 1 AND 100),
      buffer_events text[] NOT NULL DEFAULT '{}',
      inactivity_minutes integer NOT NULL DEFAULT 60 CHECK (inactivity_minutes BETWEEN 1 AND 1440),
      payload_version text NOT NULL DEFAULT 'v2',
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`.execute(db);
  await sql`CREATE INDEX webhooks_project_idx ON webhooks (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX webhooks_number_idx ON webhooks (project_id, phone_number_id) WHERE active`.execute(db);
  await sql`CREATE UNIQUE INDEX webhooks_one_meta_per_number ON webhooks (project_id, phone_number_id) WHERE kind = 'meta'`.execute(db);
  await sql`CREATE TRIGGER webhooks_created_is_updated BEFORE INSERT ON webhooks FOR EACH ROW EXECUTE FUNCTION parley_created_is_updated()`.execute(db);

  // The outbox. `webhook_id` set: the event is for that webhook only (tests, inactivity).
  await sql`
    CREATE TABLE webhook_events (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      phone_number_id text,
      webhook_id uuid REFERENCES webhooks(id) ON DELETE CASCADE,
      event text NOT NULL,
      subject jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      dispatched_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX webhook_events_pending_idx ON webhook_events (created_at) WHERE dispatched_at IS NULL`.execute(db);

  await sql`
    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      webhook_id uuid REFERENCES webhooks(id) ON DELETE SET NULL,
      webhook_url text NOT NULL,
      event text NOT NULL,
      phone_number_id text,
      conversation_id uuid,
      conversation_phone_number text,
      idempotency_key text NOT NULL,
      body text,
      batch_items jsonb,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempt_count integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      locked_until timestamptz,
      response_status integer,
      last_error text,
      last_attempt_at timestamptz,
      delivered_at timestamptz,
      failed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_age_idx ON webhook_deliveries (created_at)`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_open_batch_idx ON webhook_deliveries (webhook_id, conversation_id) WHERE status = 'pending' AND batch_items IS NOT NULL AND attempt_count = 0`.execute(db);

  await sql`
    CREATE TABLE webhook_attempts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      started_at timestamptz NOT NULL,
      duration_ms integer NOT NULL,
      response_status integer,
      error text,
      UNIQUE (delivery_id, attempt)
    )`.execute(db);

  // One inactivity event per webhook, conversation and quiet period (its last_active_at).
  await sql`
    CREATE TABLE webhook_inactivity_notices (
      webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
      last_active_at timestamptz NOT NULL,
      PRIMARY KEY (webhook_id, conversation_id, last_active_at)
    )`.execute(db);

  // Writes an outbox row when some active webhook of the project could want the event; the
  // dispatcher decides exactly which. Called by the triggers below, inside the writer's transaction.
  await sql`
    CREATE FUNCTION parley_emit(p_project uuid, p_number text, p_event text, p_subject jsonb) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (
        SELECT 1 FROM webhooks w
        WHERE w.project_id = p_project AND w.active AND w.kind = 'kapso' AND p_event = ANY (w.events)
          AND (w.phone_number_id IS NULL OR w.phone_number_id = p_number)
      ) THEN
        INSERT INTO webhook_events (project_id, phone_number_id, event, subject) VALUES (p_project, p_number, p_event, p_subject);
        PERFORM pg_notify('parley_webhook_events', '');
      END IF;
    END $$`.execute(db);

  await sql`
    CREATE FUNCTION parley_contact_events() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      changed text[] := '{}';
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM parley_emit(NEW.project_id, NULL, 'whatsapp.contact.created', jsonb_build_object('contact_id', NEW.id));
        RETURN NULL;
      END IF;
      IF NEW.erased_at IS NOT NULL AND OLD.erased_at IS NULL THEN
        PERFORM parley_emit(NEW.project_id, NULL, 'whatsapp.contact.erased',
          jsonb_build_object('contact_id', NEW.id, 'wa_id', NEW.wa_id, 'business_scoped_user_id', NEW.business_scoped_user_id));
        RETURN NULL;
      END IF;
      IF NEW.wa_id IS DISTINCT FROM OLD.wa_id THEN changed := array_append(changed, 'wa_id'); END IF;
      IF NEW.business_scoped_user_id IS DISTINCT FROM OLD.business_scoped_user_id THEN changed := array_append(changed, 'business_scoped_user_id'); END IF;
      IF NEW.parent_business_scoped_user_id IS DISTINCT FROM OLD.parent_business_scoped_user_id THEN changed := array_append(changed, 'parent_business_scoped_user_id'); END IF;
      IF NEW.username IS DISTINCT FROM OLD.username THEN changed := array_append(changed, 'username'); END IF;
      IF NEW.profile_name IS DISTINCT FROM OLD.profile_name THEN changed := array_append(changed, 'profile_name'); END IF;
      IF NEW.display_name IS DISTINCT FROM OLD.display_name THEN changed := array_append(changed, 'display_name'); END IF;
      IF NEW.customer_id IS DISTINCT FROM OLD.customer_id THEN changed := array_append(changed, 'customer_id'); END IF;
      IF NEW.metadata IS DISTINCT FROM OLD.metadata THEN changed := array_append(changed, 'metadata'); END IF;
      IF cardinality(changed) > 0 AND NEW.erased_at IS NULL THEN
        PERFORM parley_emit(NEW.project_id, NULL, 'whatsapp.contact.updated',
          jsonb_build_object('contact_id', NEW.id, 'changed_fields', to_jsonb(changed)));
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER contacts_events AFTER INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION parley_contact_events()`.execute(db);

  await sql`
    CREATE FUNCTION parley_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- System messages (number changes) are not served as messages, so they raise no event.
      IF NEW.type = 'system' THEN
        RETURN NULL;
      END IF;
      IF TG_OP = 'INSERT' THEN
        -- Inserted before the conversation counts it: a count of 0 means this message opened it.
        PERFORM parley_emit(NEW.project_id, NEW.phone_number_id,
          CASE NEW.direction WHEN 'inbound' THEN 'whatsapp.message.received' ELSE 'whatsapp.message.sent' END,
          jsonb_build_object('wamid', NEW.wamid, 'conversation_id', NEW.conversation_id,
            'is_new_conversation', (SELECT c.messages_count = 0 FROM conversations c WHERE c.id = NEW.conversation_id)));
      ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('sent', 'delivered', 'read', 'failed') THEN
        PERFORM parley_emit(NEW.project_id, NEW.phone_number_id, 'whatsapp.message.' || NEW.status,
          jsonb_build_object('wamid', NEW.wamid, 'conversation_id', NEW.conversation_id, 'is_new_conversation', false));
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER messages_events AFTER INSERT OR UPDATE OF status ON messages FOR EACH ROW EXECUTE FUNCTION parley_message_events()`.execute(db);

  await sql`
    CREATE FUNCTION parley_conversation_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM parley_emit(NEW.project_id, NEW.phone_number_id, 'whatsapp.conversation.created', jsonb_build_object('conversation_id', NEW.id));
      ELSIF NEW.status = 'ended' AND OLD.status = 'active' THEN
        PERFORM parley_emit(NEW.project_id, NEW.phone_number_id, 'whatsapp.conversation.ended', jsonb_build_object('conversation_id', NEW.id));
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER conversations_events AFTER INSERT OR UPDATE OF status ON conversations FOR EACH ROW EXECUTE FUNCTION parley_conversation_events()`.execute(db);

  await sql`
    CREATE FUNCTION parley_phone_number_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM parley_emit(NEW.project_id, NULL, 'whatsapp.phone_number.created', jsonb_build_object('internal_id', NEW.internal_id));
      ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        PERFORM parley_emit(NEW.project_id, NULL, 'whatsapp.phone_number.deleted', jsonb_build_object('internal_id', NEW.internal_id));
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER phone_numbers_events AFTER INSERT OR UPDATE OF deleted_at ON phone_numbers FOR EACH ROW EXECUTE FUNCTION parley_phone_number_events()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [trigger, table] of [
    ['contacts_events', 'contacts'],
    ['messages_events', 'messages'],
    ['conversations_events', 'conversations'],
    ['phone_numbers_events', 'phone_numbers'],
  ] as const) {
    await sql`DROP TRIGGER IF EXISTS ${sql.id(trigger)} ON ${sql.table(table)}`.execute(db);
  }
  for (const fn of ['parley_contact_events', 'parley_message_events', 'parley_conversation_events', 'parley_phone_number_events']) {
    await sql`DROP FUNCTION IF EXISTS ${sql.id(fn)}()`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS parley_emit(uuid, text, text, jsonb)`.execute(db);
  for (const table of ['webhook_inactivity_notices', 'webhook_attempts', 'webhook_deliveries', 'webhook_events', 'webhooks']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
