// Row types of every table, as Kysely sees them. Keep in step with migrations/.
import type { ColumnType, Generated } from 'kysely';

/** timestamptz read as text (see connection.ts), written as text or Date. */
export type Timestamp = ColumnType<string, string | Date | undefined, string | Date>;
export type Json = ColumnType<unknown, string, string>;

export interface ProjectsTable {
  id: Generated<string>;
  name: string;
  created_at: Generated<string>;
}

export interface ApiKeysTable {
  id: Generated<string>;
  project_id: string;
  prefix: string;
  key_hash: Buffer;
  rate_limit_per_minute: number | null;
  created_at: Generated<string>;
  revoked_at: string | null;
}

export interface CustomersTable {
  id: Generated<string>;
  project_id: string;
  name: string;
  external_customer_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ContactsTable {
  id: Generated<string>;
  project_id: string;
  wa_id: string | null;
  business_scoped_user_id: string | null;
  parent_business_scoped_user_id: string | null;
  username: string | null;
  profile_name: string | null;
  display_name: string | null;
  customer_id: string | null;
  metadata: ColumnType<unknown, string | null | undefined, string | null>;
  version: Generated<number>;
  erased_at: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface JobsTable {
  id: Generated<string>;
  kind: string;
  payload: Json;
  run_at: Timestamp;
  attempts: Generated<number>;
  locked_until: string | null;
  last_error: string | null;
  failed_at: string | null;
  created_at: Generated<string>;
}

export interface IdempotencyKeysTable {
  project_id: string;
  key: string;
  request_hash: string;
  state: 'running' | 'done';
  response_status: number | null;
  response_body: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface Database {
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  customers: CustomersTable;
  contacts: ContactsTable;
  jobs: JobsTable;
  idempotency_keys: IdempotencyKeysTable;
}
