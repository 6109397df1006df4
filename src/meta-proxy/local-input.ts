// Reading the query and body of a locally served proxy route against its TypeBox schema, and
// Meta-style paging for its lists. The proxy has one wildcard Fastify route, so these checks run
// in the handler; a refusal is a Meta-shaped 400 that names the parameter.
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from 'typebox';
import { describeValidationIssue } from '../http/errors.ts';
import { type ProxyContext, publicBase } from './context.ts';
import { invalidParameter } from './errors.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** ajv-formats' date-time minus year 0000, which PostgreSQL cannot store (as the Platform API checks it). */
function withDateTime(ajv: Ajv): Ajv {
  const base = ajv.formats['date-time'] as { validate: (value: string) => boolean };
  return ajv.addFormat('date-time', { type: 'string', validate: (value: string) => base.validate(value) && !value.startsWith('0000') });
}

const options = { useDefaults: false, removeAdditional: false, allErrors: false, strict: false } as const;
// Query values are text, so they are coerced ("20" is 20); bodies are checked exactly as sent.
const queryAjv = withDateTime(addFormats(new Ajv({ ...options, coerceTypes: true })));
const bodyAjv = withDateTime(addFormats(new Ajv({ ...options, coerceTypes: false })));

/** A checker of the route's query: the values, coerced to the schema's types. */
export function queryReader<T extends TSchema>(schema: T): (ctx: ProxyContext) => Static<T> {
  const validate = queryAjv.compile(schema);
  return (ctx) => {
    const query = { ...ctx.query };
    if (!validate(query)) throw invalidParameter(describeValidationIssue(validate.errors![0]!, 'query'));
    return query as Static<T>;
  };
}

/** A checker of the route's JSON body. */
export function bodyReader<T extends TSchema>(schema: T): (ctx: ProxyContext) => Static<T> {
  const validate = bodyAjv.compile(schema);
  return (ctx) => {
    if (ctx.json === null || typeof ctx.json !== 'object' || Array.isArray(ctx.json)) throw invalidParameter('Request body must be a JSON object');
    if (!validate(ctx.json)) throw invalidParameter(describeValidationIssue(validate.errors![0]!, 'body'));
    return ctx.json as Static<T>;
  };
}

/** Parley's page paging: cursors, and the cursor to pass as `after` (next) or `before` (previous). */
interface PlatformPaging {
  cursors: { before?: string; after?: string };
  next: string | null;
  previous: string | null;
}

export interface MetaPaging {
  cursors: { before?: string; after?: string };
  next?: string;
  previous?: string;
}

/**
 * Meta's paging: `next` and `previous` are absolute links to the same call on Parley with the
 * cursor set, and are left out when there is no such page (as Meta leaves them out).
 */
export function metaPaging(ctx: ProxyContext, paging: PlatformPaging): MetaPaging {
  const link = (name: 'after' | 'before', cursor: string) => {
    const params = new URLSearchParams(ctx.rawQuery);
    params.delete('after');
    params.delete('before');
    params.set(name, cursor);
    return `${publicBase(ctx)}/meta/whatsapp/${ctx.version}/${ctx.path}?${params.toString()}`;
  };
  return {
    cursors: paging.cursors,
    ...(paging.next === null ? {} : { next: link('after', paging.next) }),
    ...(paging.previous === null ? {} : { previous: link('before', paging.previous) }),
  };
}
