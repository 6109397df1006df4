// SQL for webhook configurations and test events, always scoped to one project. A phone number
// scope, when given, narrows reads and writes to that number's webhooks.
import { type Kysely, sql, type Transaction } from 'kysely';
import { containsPattern } from '../db/like.ts';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;


const COLUMNS = [
  'id',
  'project_id',
  'phone_number_id',
  'url',
  'kind',
  'events',
  'active',
  'secret_key',
  'headers',
  'buffer_enabled',
  'buffer_window_seconds',
  'max_buffer_size',
  'buffer_events',
  'inactivity_minutes',
  'payload_version',
  'created_at',
  'updated_at',
] as const;

/** Every stored setting of a webhook; what a create writes and an update may change. */
export interface WebhookValues {
  phone_number_id: string | null;
  url: string;
  kind: 'kapso' | 'meta';
  events: string[];
  active: boolean;
  secret_key: string | null;
  headers: Record<string, string> | null;
  buffer_enabled: boolean;
  buffer_window_seconds: number;
  max_buffer_size: number;
  buffer_events: string[];
  inactivity_minutes: number;
  payload_version: string;
}

export interface WebhookRow extends WebhookValues {
  id: string;
  project_id: string;
  created_at: string;
  updated_at: string;
}

export interface WebhookScope {
  /** Only this number's webhooks; undefined: any webhook of the project. */
  phoneNumberId?: string;
}

export interface WebhookFilters {
  kind?: string;
  urlContains?: string;
  active?: boolean;
  createdAfter?: string;
  createdBefore?: string;
}

const stored = (values: Partial<WebhookValues>) => {
  const { headers, ...rest } = values;
  return headers === undefined ? rest : { ...rest, headers: headers === null ? null : JSON.stringify(headers) };
};

export async function insertWebhook(db: Executor, projectId: string, values: WebhookValues): Promise<WebhookRow> {
  const row = { project_id: projectId, ...values, headers: values.headers === null ? null : JSON.stringify(values.headers) };
  return (await db.insertInto('webhooks').values(row).returning(COLUMNS).executeTakeFirstOrThrow()) as WebhookRow;
}

export async function findWebhook(db: Executor, projectId: string, id: string, scope: WebhookScope = {}, options: { forUpdate?: boolean } = {}): Promise<WebhookRow | undefined> {
  let query = db.selectFrom('webhooks').select(COLUMNS).where('project_id', '=', projectId).where('id', '=', id);
  if (scope.phoneNumberId !== undefined) query = query.where('phone_number_id', '=', scope.phoneNumberId);
  if (options.forUpdate) query = query.forUpdate();
  return (await query.executeTakeFirst()) as WebhookRow | undefined;
}

export async function updateWebhook(db: Executor, projectId: string, id: string, changes: Partial<WebhookValues>): Promise<WebhookRow | undefined> {
  return (await db
    .updateTable('webhooks')
    .set({ ...stored(changes), updated_at: sql`clock_timestamp()` })
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .returning(COLUMNS)
    .executeTakeFirst()) as WebhookRow | undefined;
}

export async function deleteWebhook(db: Executor, projectId: string, id: string, scope: WebhookScope = {}): Promise<boolean> {
  let query = db.deleteFrom('webhooks').where('project_id', '=', projectId).where('id', '=', id);
  if (scope.phoneNumberId !== undefined) query = query.where('phone_number_id', '=', scope.phoneNumberId);
  const result = await query.executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function listWebhooks(db: Executor, projectId: string, scope: WebhookScope, filters: WebhookFilters, offset: number, limit: number) {
  const base = db
    .selectFrom('webhooks')
    .where('project_id', '=', projectId)
    .where((eb) => {
      const conditions = [];
      if (scope.phoneNumberId !== undefined) conditions.push(eb('phone_number_id', '=', scope.phoneNumberId));
      if (filters.kind !== undefined) conditions.push(eb('kind', '=', filters.kind as 'kapso' | 'meta'));
      if (filters.urlContains !== undefined) conditions.push(eb('url', 'ilike', containsPattern(filters.urlContains)));
      if (filters.active !== undefined) conditions.push(eb('active', '=', filters.active));
      if (filters.createdAfter !== undefined) conditions.push(eb('created_at', '>', filters.createdAfter));
      if (filters.createdBefore !== undefined) conditions.push(eb('created_at', '<', filters.createdBefore));
      return eb.and(conditions);
    });
  const [rows, count] = await Promise.all([
    base.select(COLUMNS).orderBy('created_at', 'desc').orderBy('id', 'desc').offset(offset).limit(limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as WebhookRow[], total: Number(count.n) };
}

export interface TestEvent {
  phoneNumberId: string | null;
  webhookId: string;
  event: string;
  subject: Record<string, unknown>;
}

/**
 * Queues an outbox event for one webhook only. No NOTIFY inside the transaction: the response's
 * hook wakes the dispatchers after the commit (outbox-signal.ts).
 */
export async function queueTargetedEvent(tx: Transaction<Database>, projectId: string, event: TestEvent): Promise<string> {
  const row = await tx
    .insertInto('webhook_events')
    .values({ project_id: projectId, phone_number_id: event.phoneNumberId, webhook_id: event.webhookId, event: event.event, subject: JSON.stringify(event.subject) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
