// SQL for projects and their API keys.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export async function findOrCreateProject(db: Executor, name: string): Promise<{ id: string; name: string; created: boolean }> {
  const inserted = await db
    .insertInto('projects')
    .values({ name })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning(['id', 'name'])
    .executeTakeFirst();
  if (inserted) return { ...inserted, created: true };
  const found = await db.selectFrom('projects').select(['id', 'name']).where('name', '=', name).executeTakeFirstOrThrow();
  return { ...found, created: false };
}

export async function countProjects(db: Executor): Promise<number> {
  const row = await db.selectFrom('projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertKey(db: Executor, row: { projectId: string; prefix: string; hash: Buffer; rateLimit: number | null; name: string | null }): Promise<string> {
  const inserted = await db
    .insertInto('api_keys')
    .values({ project_id: row.projectId, prefix: row.prefix, key_hash: row.hash, rate_limit_per_minute: row.rateLimit, name: row.name })
    .returning('id')
    .executeTakeFirstOrThrow();
  return inserted.id;
}

export async function findKeyByPrefix(db: Executor, prefix: string) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'project_id', 'name', 'key_hash', 'rate_limit_per_minute', 'revoked_at'])
    .where('prefix', '=', prefix)
    .executeTakeFirst();
}

export async function listKeys(db: Executor) {
  return db
    .selectFrom('api_keys')
    .innerJoin('projects', 'projects.id', 'api_keys.project_id')
    .select(['api_keys.prefix', 'projects.name as project', 'api_keys.name', 'api_keys.rate_limit_per_minute', 'api_keys.created_at', 'api_keys.revoked_at'])
    .orderBy('api_keys.created_at')
    .execute();
}

export async function countActiveKeys(db: Executor): Promise<number> {
  const row = await db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('revoked_at', 'is', null).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Returns how many keys were revoked by this call (0 when unknown or already revoked). */
export async function revokeKey(db: Executor, prefix: string): Promise<number> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date().toISOString() })
    .where('prefix', '=', prefix)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
