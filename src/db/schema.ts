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
  /** What the key is for ("CI bot"), shown by `keys list` and in the API log. */
  name: string | null;
  created_at: Generated<string>;
  revoked_at: string | null;
}

export interface ApiLogsTable {
  id: Generated<string>;
  project_id: string;
  api_key_id: string | null;
  api_key_name: string | null;
  created_at: Timestamp;
  method: string;
  /** The path only: query strings carry secrets. */
  endpoint: string;
  status_code: number;
  response_time_ms: number;
  ip: string | null;
  error_message: string | null;
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
  /** Headers of the answer that a replay repeats (ETag), as a JSON object. */
  response_headers: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface PhoneNumbersTable {
  internal_id: Generated<string>;
  project_id: string;
  customer_id: string | null;
  phone_number_id: string;
  name: string;
  kind: Generated<'production' | 'sandbox'>;
  business_account_id: string;
  access_token_sealed: Buffer;
  webhook_verify_token: string | null;
  inbound_processing_enabled: Generated<boolean>;
  calls_enabled: Generated<boolean>;
  display_phone_number: string | null;
  verified_name: string | null;
  status: Generated<string>;
  webhook_verified_at: string | null;
  deleted_at: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface MetaEventsTable {
  id: Generated<number>;
  body: string;
  state: Generated<'pending' | 'processed' | 'skipped' | 'failed'>;
  attempts: Generated<number>;
  locked_until: string | null;
  note: string | null;
  /** After a failed attempt: not before this. */
  next_attempt_at: string | null;
  received_at: Generated<string>;
  processed_at: string | null;
  /** The sender lane (0012; src/meta-inbound/sender-lane.ts); null: several senders or none. */
  lane: number | null;
}

export interface ConversationsTable {
  id: Generated<string>;
  project_id: string;
  phone_number_internal_id: string;
  phone_number_id: string;
  contact_id: string;
  status: Generated<'active' | 'ended'>;
  metadata: ColumnType<unknown, string | undefined, string>;
  messages_count: Generated<number>;
  last_message_id: string | null;
  last_message_type: string | null;
  last_message_at: string | null;
  last_message_text: string | null;
  last_inbound_at: string | null;
  last_outbound_at: string | null;
  last_active_at: Timestamp;
  ended_at: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface MessagesTable {
  id: Generated<string>;
  project_id: string;
  wamid: string;
  conversation_id: string;
  contact_id: string;
  phone_number_id: string;
  direction: 'inbound' | 'outbound';
  type: string;
  status: 'pending' | 'sent' | 'delivered' | 'read' | 'failed';
  sent_at: Timestamp;
  payload: Json;
  statuses: ColumnType<unknown, string | undefined, string>;
  has_media: Generated<boolean>;
  content: string | null;
  created_at: Timestamp;
}

export interface PendingStatusesTable {
  id: Generated<number>;
  project_id: string;
  wamid: string;
  status: Json;
  received_at: Generated<string>;
}

export interface MarketingPreferencesTable {
  id: Generated<string>;
  project_id: string;
  contact_id: string;
  phone_number_id: string;
  status: 'stopped' | 'resumed';
  detail: string | null;
  source: 'meta_webhook' | 'meta_delivery_error' | 'meta_synchronous_error';
  last_event_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhooksTable {
  id: Generated<string>;
  project_id: string;
  phone_number_id: string | null;
  url: string;
  kind: Generated<'kapso' | 'meta'>;
  events: Generated<string[]>;
  active: Generated<boolean>;
  secret_key: string | null;
  headers: ColumnType<Record<string, string> | null, string | null | undefined, string | null>;
  buffer_enabled: Generated<boolean>;
  buffer_window_seconds: Generated<number>;
  max_buffer_size: Generated<number>;
  buffer_events: Generated<string[]>;
  inactivity_minutes: Generated<number>;
  payload_version: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookEventsTable {
  id: Generated<string>;
  project_id: string;
  phone_number_id: string | null;
  webhook_id: string | null;
  event: string;
  subject: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Timestamp;
  dispatched_at: string | null;
  /** Failed dispatch tries; last_error says why, next_attempt_at when the next one runs. */
  attempts: Generated<number>;
  last_error: string | null;
  next_attempt_at: string | null;
  /** Set aside after the last try: no longer dispatched. */
  dead_at: string | null;
}

export interface WebhookDeliveriesTable {
  id: Generated<string>;
  project_id: string;
  webhook_id: string | null;
  webhook_url: string;
  event: string;
  phone_number_id: string | null;
  conversation_id: string | null;
  conversation_phone_number: string | null;
  idempotency_key: string;
  body: string | null;
  batch_items: ColumnType<unknown[] | null, string | null | undefined, string | null>;
  status: Generated<'pending' | 'delivered' | 'failed'>;
  attempt_count: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: string | null;
  response_status: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
  created_at: Timestamp;
}

export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  attempt: number;
  started_at: string;
  duration_ms: number;
  response_status: number | null;
  error: string | null;
}

export interface WebhookInactivityNoticesTable {
  webhook_id: string;
  conversation_id: string;
  last_active_at: string;
}

export interface MediaFilesTable {
  id: Generated<string>;
  project_id: string;
  message_id: string;
  /** Meta's media id, as the message named it. */
  media_id: string;
  mime_type: string;
  filename: string | null;
  byte_size: number;
  sha256: string;
  created_at: Generated<string>;
}

export interface MediaChunksTable {
  file_id: string;
  seq: number;
  data: Buffer;
}

export interface WhatsappTemplatesTable {
  project_id: string;
  business_account_id: string;
  /** Meta's template id. */
  template_id: string;
  name: string;
  language: string;
  category: string | null;
  status: string | null;
  components: ColumnType<unknown, string | undefined, string>;
  parameter_format: string | null;
  updated_at: Timestamp;
}

export interface Database {
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  api_logs: ApiLogsTable;
  customers: CustomersTable;
  contacts: ContactsTable;
  jobs: JobsTable;
  idempotency_keys: IdempotencyKeysTable;
  settings: SettingsTable;
  phone_numbers: PhoneNumbersTable;
  meta_events: MetaEventsTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  pending_statuses: PendingStatusesTable;
  marketing_preferences: MarketingPreferencesTable;
  webhooks: WebhooksTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_inactivity_notices: WebhookInactivityNoticesTable;
  media_files: MediaFilesTable;
  media_chunks: MediaChunksTable;
  whatsapp_templates: WhatsappTemplatesTable;
  rate_limit_windows: RateLimitWindowsTable;
}

/** Tokens of one key's one-minute window handed to nodes (the cluster-wide rate limit). */
export interface RateLimitWindowsTable {
  key_prefix: string;
  /** Minutes since the Unix epoch. */
  window_minute: number;
  taken: number;
  last_grant: number;
}
