// Projects, API keys, customers, contacts, durable jobs and idempotency records.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);

  await sql`
    CREATE TABLE projects (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      prefix text NOT NULL UNIQUE,
      key_hash bytea NOT NULL,
      rate_limit_per_minute integer CHECK (rate_limit_per_minute IS NULL OR rate_limit_per_minute >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    )`.execute(db);

  await sql`
    CREATE TABLE customers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      name text NOT NULL,
      external_customer_id text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (project_id, id)
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX customers_external_id_key ON customers (project_id, external_customer_id) WHERE external_customer_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX customers_list_idx ON customers (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops)`.execute(db);

  // A contact's customer must belong to the same project: the composite key enforces it, and
  // deleting the customer clears only customer_id (PostgreSQL 15's column list on SET NULL).
  await sql`
    CREATE TABLE contacts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      wa_id text,
      business_scoped_user_id text,
      parent_business_scoped_user_id text,
      username text,
      profile_name text,
      display_name text,
      customer_id uuid,
      metadata jsonb,
      version integer NOT NULL DEFAULT 1,
      erased_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      FOREIGN KEY (project_id, customer_id) REFERENCES customers (project_id, id) ON DELETE SET NULL (customer_id)
    )`.execute(db);
  // Uniqueness lives in the database so that concurrent creates cannot both win. Erased
  // contacts (waiting for their erase job) do not block a new contact with the same number.
  await sql`CREATE UNIQUE INDEX contacts_wa_id_key ON contacts (project_id, wa_id) WHERE wa_id IS NOT NULL AND erased_at IS NULL`.execute(db);
  await sql`CREATE UNIQUE INDEX contacts_bsuid_key ON contacts (project_id, business_scoped_user_id) WHERE business_scoped_user_id IS NOT NULL AND erased_at IS NULL`.execute(db);
  await sql`CREATE INDEX contacts_parent_bsuid_idx ON contacts (project_id, parent_business_scoped_user_id, created_at DESC) WHERE parent_business_scoped_user_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX contacts_list_idx ON contacts (project_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX contacts_customer_idx ON contacts (project_id, customer_id, created_at DESC, id DESC) WHERE customer_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX contacts_profile_name_trgm_idx ON contacts USING gin (profile_name gin_trgm_ops)`.execute(db);
  await sql`CREATE INDEX contacts_wa_id_trgm_idx ON contacts USING gin (wa_id gin_trgm_ops)`.execute(db);
  // A finer histogram lets the planner estimate how common a '%term%' match is, and so choose
  // between walking the newest rows (common terms) and the trigram index (rare ones).
  await sql`ALTER TABLE contacts ALTER COLUMN profile_name SET STATISTICS 1000`.execute(db);
  await sql`ALTER TABLE contacts ALTER COLUMN wa_id SET STATISTICS 1000`.execute(db);

  await sql`
    CREATE TABLE jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      kind text NOT NULL,
      payload jsonb NOT NULL,
      run_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      last_error text,
      failed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE failed_at IS NULL`.execute(db);

  await sql`
    CREATE TABLE idempotency_keys (
      project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      key text NOT NULL,
      request_hash text NOT NULL,
      state text NOT NULL CHECK (state IN ('running', 'done')),
      response_status integer,
      response_body jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (project_id, key)
    )`.execute(db);

  // RFC 7396 JSON merge patch, evaluated inside the UPDATE so that concurrent patches on
  // different keys serialise on the row lock instead of overwriting each other.
  await sql`
    CREATE FUNCTION parley_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
      result jsonb;
      k text;
      v jsonb;
    BEGIN
      IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
      END IF;
      IF target IS NULL OR jsonb_typeof(target) <> 'object' THEN
        result := '{}'::jsonb;
      ELSE
        result := target;
      END IF;
      FOR k, v IN SELECT key, value FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(v) = 'null' THEN
          result := result - k;
        ELSE
          result := result || jsonb_build_object(k, parley_merge_patch(result -> k, v));
        END IF;
      END LOOP;
      RETURN result;
    END $$`.execute(db);

  // The metadata limits, applied to the merged result inside the same UPDATE: raising aborts the
  // statement, so an oversized merge writes nothing. Size is counted as compact JSON, the form
  // the API checks on create and replace.
  await sql`
    CREATE FUNCTION parley_json_measure(j jsonb, OUT bytes bigint, OUT depth integer)
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
      k text;
      v jsonb;
      n integer := 0;
      child record;
    BEGIN
      depth := 0;
      IF jsonb_typeof(j) = 'object' THEN
        bytes := 2;
        FOR k, v IN SELECT key, value FROM jsonb_each(j) LOOP
          child := parley_json_measure(v);
          bytes := bytes + octet_length(to_jsonb(k)::text) + 1 + child.bytes;
          depth := greatest(depth, child.depth);
          n := n + 1;
        END LOOP;
        bytes := bytes + greatest(n - 1, 0);
        depth := depth + 1;
      ELSIF jsonb_typeof(j) = 'array' THEN
        bytes := 2;
        FOR v IN SELECT value FROM jsonb_array_elements(j) LOOP
          child := parley_json_measure(v);
          bytes := bytes + child.bytes;
          depth := greatest(depth, child.depth);
          n := n + 1;
        END LOOP;
        bytes := bytes + greatest(n - 1, 0);
        depth := depth + 1;
      ELSE
        bytes := octet_length(j::text);
      END IF;
    END $$`.execute(db);

  await sql`
    CREATE FUNCTION parley_check_metadata(j jsonb, max_bytes integer, max_depth integer) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
      m record;
    BEGIN
      -- PostgreSQL's text form is never shorter than compact JSON, so a short one needs no walk.
      -- Depth needs none either: the API caps both the stored object and every patch at
      -- max_depth, and a merge is never deeper than the deeper of the two.
      IF j IS NULL OR octet_length(j::text) <= max_bytes THEN
        RETURN j;
      END IF;
      m := parley_json_measure(j);
      IF m.bytes > max_bytes THEN
        RAISE EXCEPTION 'contact.metadata would be % bytes as JSON; the limit is % bytes', m.bytes, max_bytes USING ERRCODE = 'PRL01';
      END IF;
      IF m.depth > max_depth THEN
        RAISE EXCEPTION 'contact.metadata would be nested % levels deep; the limit is % levels', m.depth, max_depth USING ERRCODE = 'PRL01';
      END IF;
      RETURN j;
    END $$`.execute(db);

  // version (the ETag) and updated_at move only when a value a client can see changes, so a
  // PATCH that repeats the stored values is a true no-op, and every writer gets this for free.
  await sql`
    CREATE FUNCTION parley_contact_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (NEW.wa_id, NEW.business_scoped_user_id, NEW.parent_business_scoped_user_id, NEW.username,
          NEW.profile_name, NEW.display_name, NEW.customer_id, NEW.metadata)
         IS DISTINCT FROM
         (OLD.wa_id, OLD.business_scoped_user_id, OLD.parent_business_scoped_user_id, OLD.username,
          OLD.profile_name, OLD.display_name, OLD.customer_id, OLD.metadata) THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := clock_timestamp();
      END IF;
      RETURN NEW;
    END $$`.execute(db);
  await sql`CREATE TRIGGER contacts_changed BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION parley_contact_changed()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS contacts_changed ON contacts`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_contact_changed()`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_check_metadata(jsonb, integer, integer)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_json_measure(jsonb)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS parley_merge_patch(jsonb, jsonb)`.execute(db);
  for (const table of ['idempotency_keys', 'jobs', 'contacts', 'customers', 'api_keys', 'projects']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
