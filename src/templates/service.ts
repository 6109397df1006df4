// The template catalogue: which category a template has (the send path refuses MARKETING
// templates to people who stopped them), from a short-lived memory, the cache table, or Meta.
// Sends and broadcasts ask it; the proxy's template routes and Meta's template webhooks fill it.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { DEFAULT_GRAPH_VERSION, type GraphClient, GraphUnavailableError } from '../meta-graph/client.ts';
import type { PhoneNumberWithToken } from '../phone-numbers/repo.ts';
import * as repo from './repo.ts';
import type { TemplateRecord } from './repo.ts';

export const MARKETING = 'MARKETING';

export interface TemplateCatalogDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  logger: Logger;
}

export interface TemplateCatalogOptions {
  /** How long a category is believed without asking the database again. */
  memoryMs?: number;
  /** Milliseconds now; tests move it. */
  now?: () => number;
}

const MEMORY_LIMIT = 10_000;

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const idText = (value: unknown): string | null => (typeof value === 'number' && Number.isFinite(value) ? String(value) : text(value));

/** A template object as Meta lists or returns it → a cache record; null without id, name or language. */
export function templateRecord(raw: unknown): TemplateRecord | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const t = raw as Record<string, unknown>;
  const templateId = idText(t.id);
  const name = text(t.name);
  // Meta lists `language` as a code; the send body's form, {code}, is accepted too.
  const language = text(t.language) ?? text((t.language as { code?: unknown } | undefined)?.code);
  if (templateId === null || name === null || language === null) return null;
  return {
    templateId,
    name,
    language,
    category: text(t.category)?.toUpperCase() ?? null,
    status: text(t.status)?.toUpperCase() ?? null,
    components: Array.isArray(t.components) ? t.components : null,
    parameterFormat: text(t.parameter_format)?.toUpperCase() ?? null,
  };
}

export class TemplateCatalog {
  private readonly memory = new Map<string, { category: string; until: number }>();
  private readonly memoryMs: number;
  private readonly now: () => number;

  constructor(
    private readonly deps: TemplateCatalogDeps,
    options: TemplateCatalogOptions = {},
  ) {
    this.memoryMs = options.memoryMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  private key(projectId: string, waba: string, name: string, language: string): string {
    return `${projectId}\u0000${waba}\u0000${name}\u0000${language}`;
  }

  private remember(projectId: string, waba: string, name: string, language: string, category: string | null): void {
    const key = this.key(projectId, waba, name, language);
    if (category === null) {
      this.memory.delete(key);
      return;
    }
    if (this.memory.size >= MEMORY_LIMIT) this.memory.clear();
    this.memory.set(key, { category, until: this.now() + this.memoryMs });
  }

  /** The category held in memory, without any I/O; undefined when not held (or expired). */
  memoized(projectId: string, waba: string, name: string, language: string): string | undefined {
    const key = this.key(projectId, waba, name, language);
    const held = this.memory.get(key);
    if (!held) return undefined;
    if (held.until <= this.now()) {
      this.memory.delete(key);
      return undefined;
    }
    return held.category;
  }

  /** Memory, then the cache table; null when neither knows the template. */
  async cachedCategory(projectId: string, waba: string, name: string, language: string): Promise<string | null> {
    const held = this.memoized(projectId, waba, name, language);
    if (held !== undefined) return held;
    const category = await repo.storedCategory(this.deps.db, projectId, waba, name, language);
    this.remember(projectId, waba, name, language, category);
    return category;
  }

  /**
   * Asks Meta for the templates of this name on the number's WABA and caches what it lists.
   * null when Meta knows no such template, or cannot say right now (the send then goes to Meta,
   * which is the authority and refuses what it must).
   */
  async fetchCategory(projectId: string, number: PhoneNumberWithToken, name: string, language: string): Promise<string | null> {
    const waba = number.business_account_id;
    let reply: { status: number; body: unknown };
    try {
      reply = await this.deps.graph.callJson({
        method: 'GET',
        version: DEFAULT_GRAPH_VERSION,
        path: `${encodeURIComponent(waba)}/message_templates`,
        query: new URLSearchParams({ name, fields: 'id,name,language,status,category,components,parameter_format', limit: '100' }).toString(),
        sealedToken: number.access_token_sealed,
      });
    } catch (error) {
      if (!(error instanceof GraphUnavailableError)) throw error;
      this.deps.logger.warn({ waba, template: name, reason: error.message }, 'template category lookup failed; the send goes to Meta unchecked');
      return null;
    }
    if (reply.status < 200 || reply.status >= 300) {
      this.deps.logger.warn({ waba, template: name, status: reply.status }, 'Meta refused the template category lookup; the send goes to Meta unchecked');
      return null;
    }
    const listed = (reply.body as { data?: unknown } | null)?.data;
    const records = await this.rememberListed(projectId, waba, Array.isArray(listed) ? listed : []);
    const match = records.find((r) => r.name === name && r.language === language);
    return match?.category ?? null;
  }

  /** The category of a template: memory, cache table, then Meta. What sends and broadcasts ask. */
  async templateCategory(projectId: string, number: PhoneNumberWithToken, name: string, language: string): Promise<string | null> {
    return (await this.cachedCategory(projectId, number.business_account_id, name, language)) ?? this.fetchCategory(projectId, number, name, language);
  }

  /** Caches every template of a Meta list reply; returns the records it could read. */
  async rememberListed(projectId: string, waba: string, listed: readonly unknown[]): Promise<TemplateRecord[]> {
    const records = listed.map(templateRecord).filter((r): r is TemplateRecord => r !== null);
    await repo.upsertTemplates(this.deps.db, projectId, waba, records);
    for (const r of records) this.remember(projectId, waba, r.name, r.language, r.category);
    return records;
  }

  /** A template Meta accepted for creation: its answer ({id, status, category}) and the request's name, language and components. */
  async rememberCreated(projectId: string, waba: string, request: unknown, answer: unknown): Promise<void> {
    const asked = (request ?? {}) as Record<string, unknown>;
    const given = (answer ?? {}) as Record<string, unknown>;
    const record = templateRecord({ ...asked, id: given.id, status: given.status ?? 'PENDING', category: given.category ?? asked.category });
    if (record === null) return;
    await repo.upsertTemplates(this.deps.db, projectId, waba, [record]);
    this.remember(projectId, waba, record.name, record.language, record.category);
  }

  /** A template Meta deleted: out of the cache and out of memory. */
  async forgetDeleted(projectId: string, waba: string, which: { name: string; templateId?: string; language?: string }): Promise<void> {
    await repo.deleteTemplates(this.deps.db, projectId, waba, which);
    const prefix = this.key(projectId, waba, which.name, '');
    for (const key of this.memory.keys()) if (key.startsWith(prefix)) this.memory.delete(key);
  }
}

const catalogs = new WeakMap<object, TemplateCatalog>();

/**
 * The catalogue of one server (its memory shared by the send and template routes), keyed by
 * the object that holds its dependencies (the proxy's deps), created on first use.
 */
export function catalogFor(deps: TemplateCatalogDeps): TemplateCatalog {
  let catalog = catalogs.get(deps);
  if (!catalog) {
    catalog = new TemplateCatalog(deps);
    catalogs.set(deps, catalog);
  }
  return catalog;
}
