// SQL of the template cache: Meta's templates of each WABA as last seen, per project. Writes
// merge what they know into the row (a status webhook knows no components and keeps them).
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export interface TemplateRecord {
  /** Meta's template id. */
  templateId: string;
  name: string;
  language: string;
  category: string | null;
  status: string | null;
  /** null: not known from this source (the stored ones stay). */
  components: unknown[] | null;
  parameterFormat: string | null;
}

/** Inserts or completes every record in one statement; returns how many rows it wrote. */
export async function upsertTemplates(db: Executor, projectId: string, businessAccountId: string, records: readonly TemplateRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  const rows = JSON.stringify(
    records.map((r) => ({
      template_id: r.templateId,
      name: r.name,
      language: r.language,
      category: r.category,
      status: r.status,
      components: r.components,
      parameter_format: r.parameterFormat,
    })),
  );
  const result = await sql`
    INSERT INTO whatsapp_templates AS t (project_id, business_account_id, template_id, name, language, category, status, components, parameter_format)
    SELECT DISTINCT ON (r.template_id) ${projectId}::uuid, ${businessAccountId}, r.template_id, r.name, r.language, r.category, r.status, coalesce(r.components, '[]'::jsonb), r.parameter_format
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(template_id text, name text, language text, category text, status text, components jsonb, parameter_format text)
    ON CONFLICT (project_id, business_account_id, template_id) DO UPDATE SET
      name = excluded.name,
      language = excluded.language,
      category = coalesce(excluded.category, t.category),
      status = coalesce(excluded.status, t.status),
      -- Meta's templates always have components: an empty list is a source that did not know them.
      components = CASE WHEN excluded.components = '[]'::jsonb THEN t.components ELSE excluded.components END,
      parameter_format = coalesce(excluded.parameter_format, t.parameter_format),
      updated_at = clock_timestamp()`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * A change Meta announced for one template (status or category webhook). A template this
 * project has not cached yet is stored with what the webhook says when it names it.
 */
export async function applyTemplateChange(
  db: Executor,
  projectId: string,
  businessAccountId: string,
  change: { templateId: string; name: string | null; language: string | null; status?: string; category?: string },
): Promise<void> {
  const updated = await sql`
    UPDATE whatsapp_templates SET
      status = coalesce(${change.status ?? null}, status),
      category = coalesce(${change.category ?? null}, category),
      updated_at = clock_timestamp()
    WHERE project_id = ${projectId} AND business_account_id = ${businessAccountId} AND template_id = ${change.templateId}`.execute(db);
  if (Number(updated.numAffectedRows ?? 0) > 0 || change.name === null || change.language === null) return;
  await upsertTemplates(db, projectId, businessAccountId, [
    { templateId: change.templateId, name: change.name, language: change.language, category: change.category ?? null, status: change.status ?? null, components: null, parameterFormat: null },
  ]);
}

/** Removes the cached rows a successful delete on Meta removed: by name, narrowed by id or language. */
export async function deleteTemplates(db: Executor, projectId: string, businessAccountId: string, which: { name: string; templateId?: string; language?: string }): Promise<number> {
  let query = db.deleteFrom('whatsapp_templates').where('project_id', '=', projectId).where('business_account_id', '=', businessAccountId).where('name', '=', which.name);
  if (which.templateId !== undefined) query = query.where('template_id', '=', which.templateId);
  if (which.language !== undefined) query = query.where('language', '=', which.language);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The cached category of a template by name and language; null when not cached (or unknown). */
export async function storedCategory(db: Executor, projectId: string, businessAccountId: string, name: string, language: string): Promise<string | null> {
  const row = await db
    .selectFrom('whatsapp_templates')
    .select('category')
    .where('project_id', '=', projectId)
    .where('business_account_id', '=', businessAccountId)
    .where('name', '=', name)
    .where('language', '=', language)
    .orderBy('updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.category ?? null;
}

export interface CachedTemplate {
  template_id: string;
  name: string;
  language: string;
  category: string | null;
  status: string | null;
  components: unknown;
  parameter_format: string | null;
  updated_at: string;
}

/** Every cached template of a WABA, by name and language (broadcast set-up, tests). */
export async function listCachedTemplates(db: Executor, projectId: string, businessAccountId: string): Promise<CachedTemplate[]> {
  return (await db
    .selectFrom('whatsapp_templates')
    .select(['template_id', 'name', 'language', 'category', 'status', 'components', 'parameter_format', 'updated_at'])
    .where('project_id', '=', projectId)
    .where('business_account_id', '=', businessAccountId)
    .orderBy('name')
    .orderBy('language')
    .execute()) as CachedTemplate[];
}
