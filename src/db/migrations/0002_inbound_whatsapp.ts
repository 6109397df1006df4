// Phone numbers, Meta webhook events, conversations, messages, pending statuses and marketing
// preferences: everything inbound WhatsApp traffic produces.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A new row's updated_at equals its created_at exactly (two clock_timestamp() defaults differ
  // by microseconds).
  await sql`
    CREATE FUNCTION parley_created_is_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := NEW.created_at;
      RETURN NEW;
    END $$`.execute(db);
  for (const table of ['customers', 'contacts']) {
    await sql`CREATE TRIGGER ${sql.id(`${table}_created_is_updated`)} BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION parley_created_is_updated()`.execute(db);
  }
  await sql`
    CREATE TABLE settings (
      key text PRIMARY KEY,
      value text NOT NULL
    )`.execute(db);

  // A deleted number keeps its row (deleted_at) so that its conversations and messages stay
  // readable; only connected numbers take part in the uniqueness of Meta's id.
  await sql`
    CREATE TABLE phone_numbers (
      internal_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      customer_id uuid,
      phone_number_id text NOT NULL,
      name text NOT NULL,
      kind text NOT NULL DEFAULT 'production' CHECK (kind IN ('production', 'sandbox')),
      business_account_id text NOT NULL,
      access_token_sealed bytea NOT NULL,
      webhook_verify_token text,
      inbound_processing_enabled boolean NOT NULL DEFAULT true,
      calls_enabled boolean NOT NULL DEFAULT false,
      display_phone_number text,
      verified_name text,
      status text NOT NULL DEFAULT 'CONNECTED',
      webhook_verified_at timestamptz,
      deleted_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      FOREIGN KEY (project_id, customer_id) REFERENCES customers (project_id, id) ON DELETE SET NULL (customer_id)
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX phone_numbers_connected_key ON phone_numbers (phone_number_id) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX phone_numbers_list_idx ON phone_numbers (project_id, created_at DESC, internal_id DESC)`.execute(db);

  // Meta's webhook bodies exactly as received; the worker turns them into rows below.
  await sql`
    CREATE TABLE meta_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      body text NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processed', 'skipped', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      note text,
      received_at timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX meta_events_pending_idx ON meta_events (id) WHERE state = 'pending'`.execute(db);

  await sql`
    CREATE TABLE conversations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      phone_number_internal_id uuid NOT NULL REFERENCES phone_numbers(internal_id) ON DELETE CASCADE,
      phone_number_id text NOT NULL,
      contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
      metadata jsonb NOT NULL DEFAULT '{}',
      messages_count integer NOT NULL DEFAULT 0,
      last_message_id text,
      last_message_type text,
      last_message_at timestamptz,
      last_message_text text,
      last_inbound_at timestamptz,
      last_outbound_at timestamptz,
      last_active_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      ended_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`.execute(db);
  // One active conversation per (number, contact), held by the database under concurrency.
  await sql`CREATE UNIQUE INDEX conversations_active_key ON conversations (phone_number_internal_id, contact_id) WHERE status = 'active'`.execute(db);
  await sql`CREATE INDEX conversations_list_idx ON conversations (project_id, last_active_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX conversations_idle_idx ON conversations (last_active_at) WHERE status = 'active'`.execute(db);
  await sql`CREATE INDEX conversations_contact_idx ON conversations (contact_id)`.execute(db);

  await sql`
    CREATE TABLE messages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      wamid text NOT NULL,
      conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
      contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
      phone_number_id text NOT NULL,
      direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
      type text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
      sent_at timestamptz NOT NULL,
      payload jsonb NOT NULL,
      statuses jsonb NOT NULL DEFAULT '[]',
      has_media boolean NOT NULL DEFAULT false,
      content text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (project_id, wamid)
    )`.execute(db);
  await sql`CREATE INDEX messages_list_idx ON messages (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX messages_contact_idx ON messages (contact_id)`.execute(db);

  // Statuses that arrived before their message (Meta delivers out of order).
  await sql`
    CREATE TABLE pending_statuses (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      wamid text NOT NULL,
      status jsonb NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX pending_statuses_wamid_idx ON pending_statuses (project_id, wamid)`.execute(db);

  // Keyed by Meta's phone number id, not by the connection: a number disconnected and connected
  // again must keep the user's "stop".
  await sql`
    CREATE TABLE marketing_preferences (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
      phone_number_id text NOT NULL,
      status text NOT NULL CHECK (status IN ('stopped', 'resumed')),
      detail text,
      source text NOT NULL CHECK (source IN ('meta_webhook', 'meta_delivery_error', 'meta_synchronous_error')),
      last_event_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (contact_id, phone_number_id)
    )`.execute(db);

  for (const table of ['phone_numbers', 'conversations', 'marketing_preferences']) {
    await sql`CREATE TRIGGER ${sql.id(`${table}_created_is_updated`)} BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION parley_created_is_updated()`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['marketing_preferences', 'pending_statuses', 'messages', 'conversations', 'meta_events', 'phone_numbers', 'settings']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
  for (const table of ['customers', 'contacts']) await sql`DROP TRIGGER IF EXISTS ${sql.id(`${table}_created_is_updated`)} ON ${sql.table(table)}`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_created_is_updated()`.execute(db);
}
