// Message templates, per WABA, as Meta lists, creates, reads and deletes them. Paging links
// carry `access_token` in their query exactly as Meta's do, so tests can prove that Parley
// rewrites them before a client sees them.
import { GraphError, invalidParameter } from './graph-errors.ts';
import { mediaId } from './media-store.ts';

export type TemplateStatus = 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED';
export type TemplateCategory = 'AUTHENTICATION' | 'MARKETING' | 'UTILITY';

export interface Template {
  id: string;
  name: string;
  language: string;
  status: TemplateStatus;
  category: TemplateCategory;
  components: unknown[];
  parameter_format?: 'POSITIONAL' | 'NAMED';
}

export interface TemplateSeed extends Partial<Omit<Template, 'name'>> {
  name: string;
}

const CATEGORIES = new Set(['AUTHENTICATION', 'MARKETING', 'UTILITY']);
const GRAPH_ORIGIN = 'https://graph.facebook.com';

const cursorOf = (id: string) => Buffer.from(`tpl:${id}`).toString('base64url');
function idOfCursor(cursor: string): string | null {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  return raw.startsWith('tpl:') ? raw.slice(4) : null;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

export class TemplateStore {
  private readonly byWaba = new Map<string, Template[]>();

  constructor(private readonly createdStatus: 'APPROVED' | 'PENDING') {}

  wabaIds(): string[] {
    return [...this.byWaba.keys()];
  }

  private list(waba: string): Template[] {
    let list = this.byWaba.get(waba);
    if (!list) {
      list = [];
      this.byWaba.set(waba, list);
    }
    return list;
  }

  add(waba: string, seed: TemplateSeed): Template {
    const template: Template = {
      id: seed.id ?? mediaId(),
      name: seed.name,
      language: seed.language ?? 'en_US',
      status: seed.status ?? 'APPROVED',
      category: seed.category ?? 'UTILITY',
      components: seed.components ?? [{ type: 'BODY', text: 'Hello from the sandbox' }],
      ...(seed.parameter_format ? { parameter_format: seed.parameter_format } : {}),
    };
    this.list(waba).push(template);
    return template;
  }

  find(id: string): { waba: string; template: Template } | null {
    for (const [waba, list] of this.byWaba) {
      const template = list.find((t) => t.id === id);
      if (template) return { waba, template };
    }
    return null;
  }

  /** Whether a template of this name and language exists on the WABA. */
  has(waba: string, name: string, language: string): boolean {
    return (this.byWaba.get(waba) ?? []).some((t) => t.name === name && t.language === language);
  }

  categoryOf(waba: string, name: string, language: string): TemplateCategory | null {
    return (this.byWaba.get(waba) ?? []).find((t) => t.name === name && t.language === language)?.category ?? null;
  }

  setStatus(id: string, status: TemplateStatus): boolean {
    const found = this.find(id);
    if (found) found.template.status = status;
    return found !== null;
  }

  /** `GET /{waba}/message_templates`. */
  page(waba: string, query: URLSearchParams, version: string, token: string) {
    const limitText = query.get('limit');
    const limit = limitText === null ? 25 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidParameter('limit must be a whole number from 1 to 1000');
    const name = query.get('name');
    const status = query.get('status');
    const category = query.get('category');
    const language = query.get('language');
    const matching = (this.byWaba.get(waba) ?? []).filter(
      (t) => (name === null || t.name.includes(name)) && (status === null || t.status === status.toUpperCase()) && (category === null || t.category === category.toUpperCase()) && (language === null || t.language === language),
    );
    let start = 0;
    let end: number;
    const after = query.get('after');
    const before = query.get('before');
    if (after !== null) {
      const at = matching.findIndex((t) => t.id === idOfCursor(after));
      if (at < 0) throw invalidParameter('the after cursor is not valid');
      start = at + 1;
      end = Math.min(matching.length, start + limit);
    } else if (before !== null) {
      const at = matching.findIndex((t) => t.id === idOfCursor(before));
      if (at < 0) throw invalidParameter('the before cursor is not valid');
      end = at;
      start = Math.max(0, end - limit);
    } else {
      end = Math.min(matching.length, limit);
    }
    const data = matching.slice(start, end);
    const paging: Record<string, unknown> = {};
    if (data.length > 0) {
      paging.cursors = { before: cursorOf(data[0]!.id), after: cursorOf(data[data.length - 1]!.id) };
      const link = (cursor: Record<string, string>) => {
        const next = new URLSearchParams({ access_token: token, limit: String(limit) });
        for (const [key, value] of [['name', name], ['status', status], ['category', category], ['language', language]] as const) if (value !== null) next.set(key, value);
        for (const [key, value] of Object.entries(cursor)) next.set(key, value);
        return `${GRAPH_ORIGIN}/${version}/${waba}/message_templates?${next.toString()}`;
      };
      if (end < matching.length) paging.next = link({ after: cursorOf(data[data.length - 1]!.id) });
      if (start > 0) paging.previous = link({ before: cursorOf(data[0]!.id) });
    } else {
      paging.cursors = {};
    }
    return { data, paging };
  }

  /** `POST /{waba}/message_templates`. */
  create(waba: string, body: unknown) {
    if (!isObject(body)) throw invalidParameter('The request body must be a JSON object');
    for (const field of ['name', 'language', 'category'] as const) {
      if (typeof body[field] !== 'string' || (body[field] as string).trim() === '') throw new GraphError(400, `(#100) The parameter ${field} is required.`, 'OAuthException', 100);
    }
    const name = body.name as string;
    if (!/^[a-z0-9_]{1,512}$/.test(name)) throw invalidParameter('name may hold only lower-case letters, digits and underscores');
    const category = (body.category as string).toUpperCase();
    if (!CATEGORIES.has(category)) throw invalidParameter(`category must be one of ${[...CATEGORIES].join(', ')}`);
    if (!Array.isArray(body.components) || body.components.length === 0) throw new GraphError(400, '(#100) The parameter components is required.', 'OAuthException', 100);
    if (!body.components.some((c) => isObject(c) && String(c.type).toUpperCase() === 'BODY')) throw invalidParameter('components must include a BODY component');
    const format = body.parameter_format;
    if (format !== undefined && format !== 'POSITIONAL' && format !== 'NAMED' && format !== 'positional' && format !== 'named') throw invalidParameter('parameter_format must be POSITIONAL or NAMED');
    const language = body.language as string;
    if (this.has(waba, name, language)) {
      throw new GraphError(400, 'Message template already exists', 'OAuthException', 100, { subcode: 2388024, details: `There is already ${language} content for this template (${name}).` });
    }
    const template = this.add(waba, {
      name,
      language,
      category: category as TemplateCategory,
      components: body.components,
      status: this.createdStatus,
      ...(format ? { parameter_format: (format as string).toUpperCase() as 'POSITIONAL' | 'NAMED' } : {}),
    });
    return { id: template.id, status: template.status, category: template.category };
  }

  /** `POST /{template_id}`: an edit sends the template back to review. */
  edit(id: string, body: unknown): { success: true } | null {
    const found = this.find(id);
    if (!found) return null;
    if (isObject(body)) {
      if (Array.isArray(body.components)) found.template.components = body.components;
      if (typeof body.category === 'string' && CATEGORIES.has(body.category.toUpperCase())) found.template.category = body.category.toUpperCase() as TemplateCategory;
    }
    found.template.status = this.createdStatus;
    return { success: true };
  }

  /** `DELETE /{waba}/message_templates?name=…[&hsm_id=…]`: by name every language goes, with hsm_id only that one. */
  delete(waba: string, query: URLSearchParams): { success: true } {
    const name = query.get('name');
    const hsmId = query.get('hsm_id');
    if (name === null && hsmId === null) throw new GraphError(400, '(#100) The parameter name is required.', 'OAuthException', 100);
    const list = this.byWaba.get(waba) ?? [];
    const keep = list.filter((t) => !((hsmId === null || t.id === hsmId) && (name === null || t.name === name)));
    if (keep.length === list.length) throw new GraphError(400, '(#100) Invalid parameter', 'OAuthException', 100, { subcode: 2593002, details: `No template named ${name ?? hsmId} on this account.` });
    this.byWaba.set(waba, keep);
    return { success: true };
  }

  clear(): void {
    this.byWaba.clear();
  }
}
