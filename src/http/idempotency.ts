// `Idempotency-Key` for creates: the same key with the same request within 24 hours replays the
// first response; with a different request it is refused (422); while the first request is
// still running, 409. Records are rows, so this holds across nodes.
import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ApiError, conflict, unprocessable } from './errors.ts';

/** A record left `running` this long belongs to a request that died; it may be taken over. */
const ABANDONED_AFTER = '5 minutes';
const RETENTION = '24 hours';

export interface StoredResponse {
  status: number;
  body: unknown;
  replayed: boolean;
}

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

export async function withIdempotency(
  db: Kysely<Database>,
  projectId: string,
  key: string | undefined,
  fingerprint: string,
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<StoredResponse> {
  if (key === undefined) return { ...(await run()), replayed: false };

  const claimed = await sql<{ key: string }>`
    INSERT INTO idempotency_keys (project_id, key, request_hash, state)
    VALUES (${projectId}, ${key}, ${fingerprint}, 'running')
    ON CONFLICT (project_id, key) DO UPDATE
      SET request_hash = excluded.request_hash, state = 'running', response_status = NULL, response_body = NULL, created_at = now()
      WHERE idempotency_keys.created_at < now() - ${RETENTION}::interval
         OR (idempotency_keys.state = 'running' AND idempotency_keys.created_at < now() - ${ABANDONED_AFTER}::interval)
    RETURNING key`.execute(db);

  if (claimed.rows.length === 0) {
    const existing = await db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'state', 'response_status', 'response_body'])
      .where('project_id', '=', projectId)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!existing) return withIdempotency(db, projectId, key, fingerprint, run);
    if (existing.request_hash !== fingerprint) throw unprocessable('Idempotency-Key was already used with a different request');
    if (existing.state === 'running') throw conflict('A request with this Idempotency-Key is still in progress');
    return { status: existing.response_status!, body: existing.response_body, replayed: true };
  }

  const store = (status: number, body: unknown) =>
    db
      .updateTable('idempotency_keys')
      .set({ state: 'done', response_status: status, response_body: JSON.stringify(body) })
      .where('project_id', '=', projectId)
      .where('key', '=', key)
      .execute();
  try {
    const result = await run();
    await store(result.status, result.body);
    return { ...result, replayed: false };
  } catch (error) {
    // A client error is the answer to this request and is replayed like a success; anything
    // else may succeed on a retry, so the key is released.
    if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
      await store(error.status, error.body ?? { error: error.message });
    } else {
      await db.deleteFrom('idempotency_keys').where('project_id', '=', projectId).where('key', '=', key).execute();
    }
    throw error;
  }
}

export async function purgeExpiredIdempotencyKeys(db: Kysely<Database>): Promise<number> {
  const result = await sql`DELETE FROM idempotency_keys WHERE created_at < now() - ${RETENTION}::interval`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
