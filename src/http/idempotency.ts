// `Idempotency-Key` for creates: the same key with the same request within 24 hours replays the
// first response (status, body and ETag); with a different request it is refused (422); while
// the first request is still running, 409. Records are rows and the lock is PostgreSQL's, so
// this holds across nodes.
import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ApiError, conflict, unprocessable } from './errors.ts';

const RETENTION = '24 hours';
/** First half of the advisory-lock key that serialises requests with one Idempotency-Key. */
const IDEMPOTENCY_LOCK_CLASS = 727_002;

/**
 * JSON with object keys sorted, written with an explicit stack rather than recursion: bodies
 * reach this before any service check, and a deeply nested one must not overflow the call stack.
 */
function stable(root: unknown): string {
  let out = '';
  // Work items, last first: a value still to write, or text already decided.
  const work: ({ text: string } | { value: unknown })[] = [{ value: root }];
  while (work.length > 0) {
    const item = work.pop()!;
    if ('text' in item) {
      out += item.text;
      continue;
    }
    const value = item.value;
    let parts: ({ text: string } | { value: unknown })[];
    if (Array.isArray(value)) {
      parts = [{ text: '[' }, ...value.flatMap((v, i) => (i === 0 ? [{ value: v }] : [{ text: ',' }, { value: v }])), { text: ']' }];
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      parts = [{ text: '{' }, ...entries.flatMap(([k, v], i) => [{ text: `${i === 0 ? '' : ','}${JSON.stringify(k)}:` }, { value: v }]), { text: '}' }];
    } else {
      out += JSON.stringify(value) ?? 'null';
      continue;
    }
    for (let i = parts.length - 1; i >= 0; i--) work.push(parts[i]!);
  }
  return out;
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${stable(body)}`).digest('hex');
}

/** A response worth replaying: its status, body and the headers that describe it (ETag). */
export interface IdempotentResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface StoredResponse extends IdempotentResponse {
  replayed: boolean;
}

/**
 * Runs `run` at most once per key. The record of the answer is written in the transaction that
 * `run` writes in, so the two commit together: a process that dies before the commit leaves
 * neither (a retry runs afresh), one that dies after leaves both (a retry replays). A request
 * whose key another transaction holds right now is answered 409 rather than kept waiting.
 */
export async function withIdempotency(
  db: Kysely<Database>,
  projectId: string,
  key: string | undefined,
  fingerprint: string,
  run: (db: Kysely<Database>) => Promise<IdempotentResponse>,
): Promise<StoredResponse> {
  if (key === undefined) return { ...(await run(db)), replayed: false };

  let refused: ApiError;
  let runError: unknown;
  try {
    return await db.transaction().execute(async (tx) => {
      if (!(await tryLock(tx, projectId, key))) throw conflict('A request with this Idempotency-Key is still in progress');
      const existing = await tx
        .selectFrom('idempotency_keys')
        .select(['request_hash', 'state', 'response_status', 'response_body', 'response_headers'])
        .where('project_id', '=', projectId)
        .where('key', '=', key)
        .where('created_at', '>=', sql<string>`now() - ${RETENTION}::interval`)
        // Left by an older version that recorded the claim on its own; its request is over.
        .where('state', '=', 'done')
        .executeTakeFirst();
      if (existing) {
        if (existing.request_hash !== fingerprint) throw unprocessable('Idempotency-Key was already used with a different request');
        const headers = (existing.response_headers ?? undefined) as Record<string, string> | undefined;
        return { status: existing.response_status!, body: existing.response_body, ...(headers ? { headers } : {}), replayed: true };
      }
      const result = await run(tx).catch((error: unknown) => {
        runError = error;
        throw error;
      });
      await record(tx, projectId, key, fingerprint, result);
      return { ...result, replayed: false };
    });
  } catch (error) {
    // A client error is the answer to this request and is replayed like a success. Its
    // transaction is gone (the error may have come from the database), so it is recorded on its
    // own; should that record be lost, a retry runs the request again. Anything else may
    // succeed on a retry, so nothing is kept.
    if (error !== runError || !(error instanceof ApiError) || error.status < 400 || error.status >= 500) throw error;
    refused = error;
  }
  await db.transaction().execute(async (tx) => {
    // Taken by a retry meanwhile: that request records its own answer.
    if (await tryLock(tx, projectId, key)) await record(tx, projectId, key, fingerprint, { status: refused.status, body: refused.body ?? { error: refused.message } }, false);
  });
  throw refused;
}

/** Holds the key until the transaction ends; false when another transaction holds it. */
async function tryLock(tx: Transaction<Database>, projectId: string, key: string): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`
    SELECT pg_try_advisory_xact_lock(${IDEMPOTENCY_LOCK_CLASS}, hashtext(${projectId}::text || ':' || ${key}::text)) AS locked`.execute(tx);
  return rows[0]!.locked;
}

/**
 * Writes the answer for the key. A record past its retention, or an older version's claim left
 * `running`, is replaced; a live answer only when `replace` (the caller found none under the lock).
 */
async function record(tx: Transaction<Database>, projectId: string, key: string, fingerprint: string, response: IdempotentResponse, replace = true): Promise<void> {
  const headers = response.headers && Object.keys(response.headers).length > 0 ? JSON.stringify(response.headers) : null;
  await sql`
    INSERT INTO idempotency_keys (project_id, key, request_hash, state, response_status, response_body, response_headers)
    VALUES (${projectId}, ${key}, ${fingerprint}, 'done', ${response.status}, ${JSON.stringify(response.body)}::jsonb, ${headers}::jsonb)
    ON CONFLICT (project_id, key) DO UPDATE
      SET request_hash = excluded.request_hash, state = 'done', response_status = excluded.response_status,
          response_body = excluded.response_body, response_headers = excluded.response_headers, created_at = now()
      WHERE ${replace}::boolean OR idempotency_keys.created_at < now() - ${RETENTION}::interval OR idempotency_keys.state = 'running'`.execute(tx);
}

export async function purgeExpiredIdempotencyKeys(db: Kysely<Database>): Promise<number> {
  const result = await sql`DELETE FROM idempotency_keys WHERE created_at < now() - ${RETENTION}::interval`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
