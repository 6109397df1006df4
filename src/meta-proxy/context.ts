// What a proxy handler is given, and the small router that picks the handler of a path below
// the version. Paths no local route claims are forwarded to Meta (passthrough.ts).
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import type { MediaLinks } from '../media/links.ts';
import type { GraphClient } from '../meta-graph/client.ts';
import type { OutboundRecorder } from '../sending/recorder.ts';
import type { ProxyTarget, TargetKind } from './target.ts';

export interface ProxyDeps {
  db: Kysely<Database>;
  /** The pool under `db`, for the contacts service's prepared statements. */
  pool: pg.Pool;
  graph: GraphClient;
  logger: Logger;
  /** PARLEY_PUBLIC_URL; null: links are built from each request's Host. */
  publicUrl: string | null;
  /** Signs the download links added to media objects (src/media/links.ts). */
  mediaLinks?: MediaLinks;
  /** Writes accepted sends to the message history, batched (one per node). */
  recorder: OutboundRecorder;
}

export interface ProxyContext {
  request: FastifyRequest;
  reply: FastifyReply;
  deps: ProxyDeps;
  projectId: string;
  /** `v23.0`, as the client wrote it; forwarded unchanged. */
  version: string;
  /** The path below the version, split: `['123', 'messages']`. */
  segments: string[];
  /** The same, joined: `123/messages`. */
  path: string;
  /** The query string as the client sent it, without `?`. */
  rawQuery: string;
  query: Record<string, unknown>;
  /** Values of the `:name` segments of the matched pattern. */
  params: Record<string, string>;
  /** The number the path names; null for unscoped local paths (`conversations/{id}`). */
  target: ProxyTarget | null;
  /** A JSON body, parsed; its bytes are `rawBody`. */
  json: unknown;
  rawBody: Buffer | undefined;
  /** A body of any other type (multipart uploads), not read yet. */
  stream: Readable | undefined;
}

/** Returns the JSON to answer with (status 200), or undefined after answering itself. */
export type ProxyHandler = (ctx: ProxyContext) => Promise<unknown>;

export interface ProxyRoute {
  method: string;
  /**
   * Segments below the version. `:pnid`, `:waba` and `:object` match the first segment when the
   * path's target is of that kind; other `:name`s match any segment; the rest are literals.
   */
  pattern: string;
  handler: ProxyHandler;
}

const TARGET_TOKENS: Record<string, TargetKind> = { ':pnid': 'number', ':waba': 'waba', ':object': 'object' };

export interface CompiledRoute extends ProxyRoute {
  parts: string[];
}

export function compileRoutes(routes: readonly ProxyRoute[]): CompiledRoute[] {
  return routes.map((route) => ({ ...route, parts: route.pattern.split('/').filter(Boolean) }));
}

/** The first route whose method and pattern fit, with its parameters. */
export function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  segments: readonly string[],
  target: ProxyTarget | null,
): { route: CompiledRoute; params: Record<string, string> } | null {
  for (const route of routes) {
    if (route.method !== method || route.parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let fits = true;
    for (let i = 0; i < route.parts.length && fits; i++) {
      const part = route.parts[i]!;
      const segment = segments[i]!;
      const kind = TARGET_TOKENS[part];
      if (kind !== undefined) fits = i === 0 && target?.kind === kind;
      else if (part.startsWith(':')) params[part.slice(1)] = segment;
      else fits = part === segment;
    }
    if (fits) return { route, params };
  }
  return null;
}

/** Parley's own base for links handed to clients (download URLs, rewritten paging). */
export function publicBase(ctx: Pick<ProxyContext, 'request' | 'deps'>): string {
  return ctx.deps.publicUrl ?? `${ctx.request.protocol}://${ctx.request.host}`;
}
