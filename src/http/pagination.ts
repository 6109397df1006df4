// The two pagination styles of the wire contract: keyset cursors and legacy offset pages.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { badRequest } from './errors.ts';
import { UUID } from './uuid.ts';

import type { CursorPosition, CursorRequest } from '../db/keyset.ts';

// The shapes live beside the SQL that reads them, so that db/ never imports from http/.
export type { CursorPosition, CursorRequest } from '../db/keyset.ts';

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

export function encodeCursor(position: CursorPosition, column = 'created_at'): string {
  return Buffer.from(JSON.stringify({ values: [position.createdAt, position.id], columns: [column, 'id'] })).toString('base64');
}

export function decodeCursor(raw: string, name: 'after' | 'before'): CursorPosition {
  const fail = () => badRequest(`${name} is not a valid cursor`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    throw fail();
  }
  const values = (parsed as { values?: unknown })?.values;
  if (!Array.isArray(values) || values.length !== 2) throw fail();
  const [createdAt, id] = values as unknown[];
  if (typeof createdAt !== 'string' || typeof id !== 'string' || !TIMESTAMP.test(createdAt) || !UUID.test(id)) throw fail();
  // Date.parse rolls 2025-02-30 over into March and takes year 0000; PostgreSQL refuses both.
  const ms = Date.parse(createdAt);
  if (Number.isNaN(ms) || createdAt.startsWith('0000') || new Date(ms).toISOString().slice(0, 19) !== createdAt.slice(0, 19)) throw fail();
  return { createdAt, id };
}

export interface CursorQuery {
  limit?: number;
  after?: string;
  before?: string;
}

export function parseCursorQuery(query: CursorQuery): CursorRequest {
  if (query.after !== undefined && query.before !== undefined) {
    throw badRequest('Use either after or before, not both');
  }
  return {
    limit: query.limit ?? 20,
    after: query.after !== undefined ? decodeCursor(query.after, 'after') : null,
    before: query.before !== undefined ? decodeCursor(query.before, 'before') : null,
  };
}

/**
 * Builds `paging` from a page fetched with one extra row (`rows.length` may be limit + 1).
 * With `before`, rows arrive oldest-first and are reversed here so the page reads newest-first.
 */
export function cursorPage<T>(rows: T[], request: CursorRequest, position: (row: T) => CursorPosition, column = 'created_at') {
  const hasMore = rows.length > request.limit;
  const page = rows.slice(0, request.limit);
  if (request.before) page.reverse();
  const first = page[0];
  const last = page[page.length - 1];
  const before = first ? encodeCursor(position(first), column) : null;
  const after = last ? encodeCursor(position(last), column) : null;
  const next = request.before ? after : hasMore ? after : null;
  const previous = request.before ? (hasMore ? before : null) : request.after ? before : null;
  return {
    data: page,
    paging: {
      cursors: { ...(before ? { before } : {}), ...(after ? { after } : {}) },
      next,
      previous,
    },
  };
}

export const PagingSchema = Type.Object(
  {
    cursors: Type.Object({
      before: Type.Optional(Type.String({ description: 'Cursor of the first item on this page' })),
      after: Type.Optional(Type.String({ description: 'Cursor of the last item on this page' })),
    }),
    next: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `after` for the next page; null on the last page' }),
    previous: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `before` for the previous page; null on the first page' }),
  },
);

export const MetaSchema = Type.Object(
  {
    page: Type.Integer({ minimum: 1 }),
    per_page: Type.Integer({ minimum: 1 }),
    total_pages: Type.Integer({ minimum: 0 }),
    total_count: Type.Integer({ minimum: 0 }),
  },
);

export const cursorQueryProperties = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: undefined, description: 'Items per page, 1 to 100 (default 20)' })),
  after: Type.Optional(Type.String({ description: 'Cursor: return the items after this one' })),
  before: Type.Optional(Type.String({ description: 'Cursor: return the items before this one' })),
};

export const offsetQueryProperties = {
  page: Type.Optional(Type.Integer({ description: 'Page number (legacy offset pagination), from 1' })),
  per_page: Type.Optional(Type.Integer({ description: 'Items per page (legacy offset pagination)' })),
};

export interface OffsetRequest {
  page: number;
  perPage: number;
}

/** Most offset lists allow at most this many items per page (contacts have their own limits). */
export const MAX_PER_PAGE = 100;

export function parseOffsetQuery(query: { page?: number; per_page?: number }, maxPerPage: number | null = MAX_PER_PAGE): OffsetRequest {
  const page = query.page ?? 1;
  const perPage = query.per_page ?? 20;
  if (page < 1) throw badRequest('page must be at least 1');
  if (perPage < 1) throw badRequest('per_page must be at least 1');
  if (maxPerPage !== null && perPage > maxPerPage) throw badRequest(`per_page must be at most ${maxPerPage}`);
  // 1e400 arrives as Infinity, which JSON Schema counts as an integer; OFFSET must fit a bigint.
  if (!Number.isSafeInteger(page * perPage)) throw badRequest('page × per_page is too large');
  return { page, perPage };
}

/** Sets `X-Total`, `X-Total-Pages`, `X-Per-Page`, `X-Page` and the RFC 8288 `Link` header. */
export function offsetPage<T>(request: FastifyRequest, reply: FastifyReply, rows: T[], total: number, offset: OffsetRequest) {
  const totalPages = Math.ceil(total / offset.perPage);
  const url = new URL(request.url, 'http://placeholder');
  const link = (page: number, rel: string) => {
    url.searchParams.set('page', String(page));
    url.searchParams.set('per_page', String(offset.perPage));
    return `<${url.pathname}${url.search}>; rel="${rel}"`;
  };
  const links = [link(1, 'first')];
  if (offset.page > 1) links.push(link(Math.min(offset.page - 1, Math.max(totalPages, 1)), 'prev'));
  if (offset.page < totalPages) links.push(link(offset.page + 1, 'next'));
  links.push(link(Math.max(totalPages, 1), 'last'));
  void reply.headers({
    'x-total': String(total),
    'x-total-pages': String(totalPages),
    'x-per-page': String(offset.perPage),
    'x-page': String(offset.page),
    link: links.join(', '),
  });
  return { data: rows, meta: { page: offset.page, per_page: offset.perPage, total_pages: totalPages, total_count: total } };
}
