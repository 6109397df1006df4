// SQL for the webhook delivery log: one page of a project's deliveries, and the purge that keeps
// the log to its retention period. Every read takes the executor and the project id.
import { type Kysely, sql, type Transaction } from 'kysely';
import { keysetPage } from '../db/keyset.ts';
import type { Database } from '../db/schema.ts';
import type { CursorRequest } from '../http/pagination.ts';
import type { DeliveryStatus } from './schemas.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** Deliveries (and, by cascade, their attempts) older than this are deleted. */
export const DELIVERY_RETENTION_DAYS = 30;
const PURGE_CHUNK = 10_000;

export interface DeliveryRow {
  id: string;
  event: string;
  status: DeliveryStatus;
  attempt_count: number;
  response_status: number | null;
  delivered_at: string | null;
  failed_at: string | null;
  last_attempt_at: string | null;
  webhook_id: string | null;
  webhook_url: string;
  whatsapp_config_id: string | null;
  phone_number_id: string | null;
  conversation_phone_number: string | null;
  created_at: string;
}

export interface DeliveryFilters {
  status?: DeliveryStatus;
  event?: string;
  webhookId?: string;
  failedOnly?: boolean;
  /** Only deliveries created at or after this instant. */
  createdSince?: Date;
}

function visible(db: Executor, projectId: string) {
  return db
    .selectFrom('webhook_deliveries as d')
    .where('d.project_id', '=', projectId)
    .select((eb) => [
      'd.id',
      'd.event',
      'd.status',
      'd.attempt_count',
      'd.response_status',
      'd.delivered_at',
      'd.failed_at',
      'd.last_attempt_at',
      'd.webhook_id',
      'd.webhook_url',
      'd.phone_number_id',
      'd.conversation_phone_number',
      'd.created_at',
      // The number as connected in this project: the live connection, else the newest removed one.
      eb
        .selectFrom('phone_numbers as p')
        .select('p.internal_id')
        .whereRef('p.project_id', '=', 'd.project_id')
        .whereRef('p.phone_number_id', '=', 'd.phone_number_id')
        .orderBy(sql`p.deleted_at IS NULL`, 'desc')
        .orderBy('p.created_at', 'desc')
        .limit(1)
        .as('whatsapp_config_id'),
    ]);
}

type VisibleQuery = ReturnType<typeof visible>;

function applyFilters(query: VisibleQuery, filters: DeliveryFilters): VisibleQuery {
  let q = query;
  if (filters.status !== undefined) q = q.where('d.status', '=', filters.status);
  if (filters.event !== undefined) q = q.where('d.event', '=', filters.event);
  if (filters.webhookId !== undefined) q = q.where('d.webhook_id', '=', filters.webhookId);
  if (filters.failedOnly) q = q.where('d.status', '=', 'failed');
  if (filters.createdSince !== undefined) q = q.where('d.created_at', '>=', filters.createdSince.toISOString());
  return q;
}

/** One page in (created_at, id) order, newest first, with one extra row to tell whether more follow. */
export async function listDeliveries(db: Executor, projectId: string, filters: DeliveryFilters, page: CursorRequest): Promise<DeliveryRow[]> {
  const query = keysetPage(applyFilters(visible(db, projectId), filters), page, { time: 'd.created_at', id: 'd.id' });
  return (await query.execute()) as DeliveryRow[];
}

/**
 * Deletes deliveries created more than DELIVERY_RETENTION_DAYS before `now`, across all projects,
 * in chunks so that no statement holds locks on (or writes WAL for) an unbounded number of rows.
 * Attempts go with their delivery (ON DELETE CASCADE). Idempotent, and rows another node (or a
 * delivery worker) holds are skipped rather than waited for: the next run takes them.
 * Returns how many deliveries were deleted.
 */
export async function purgeOldDeliveries(db: Kysely<Database>, now: Date, chunk = PURGE_CHUNK): Promise<number> {
  const cutoff = new Date(now.getTime() - DELIVERY_RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom('webhook_deliveries')
      .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('created_at', '<', cutoff).limit(chunk).forUpdate().skipLocked())
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < chunk) return total;
  }
}
