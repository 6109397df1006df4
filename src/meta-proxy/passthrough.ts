// Forwarding a call to Meta with the number's token, and answering with Meta's status and body.
// Meta's errors go back unchanged; the one thing rewritten is paging URLs, which Meta writes
// with the access token inside.
import type { Readable } from 'node:stream';
import type { GraphReply } from '../meta-graph/client.ts';
import { type ProxyContext, publicBase } from './context.ts';
import { MetaError } from './errors.ts';
import type { ProxyTarget } from './target.ts';

export interface ForwardOverrides {
  /** A JSON body to send instead of the client's bytes. */
  json?: unknown;
  /** A streamed body (uploads), with its type and length when known. */
  stream?: Readable;
  contentType?: string;
  contentLength?: number;
  timeoutMs?: number;
}

/** Bodies other than JSON and uploads (form posts) are read whole, up to the JSON API's limit. */
const OTHER_BODY_LIMIT = 1024 * 1024;

export async function readBounded(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new MetaError(413, `Request body is larger than the ${Math.round(limit / 1024)} KiB this endpoint allows`, 'OAuthException', 100);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Sends the client's call on to Meta; the reply's body must be read or dumped. */
export async function callMeta(ctx: ProxyContext, target: ProxyTarget, overrides: ForwardOverrides = {}): Promise<GraphReply> {
  if (ctx.rawBody === undefined && ctx.stream && overrides.stream === undefined && overrides.json === undefined) {
    ctx.rawBody = await readBounded(ctx.stream, OTHER_BODY_LIMIT);
    ctx.stream = undefined;
  }
  let body: Buffer | string | Readable | undefined = ctx.rawBody;
  let contentType = ctx.request.headers['content-type'];
  let contentLength: number | undefined = ctx.rawBody?.length;
  if (overrides.json !== undefined) {
    body = JSON.stringify(overrides.json);
    contentType = 'application/json';
    contentLength = Buffer.byteLength(body);
  } else if (overrides.stream) {
    body = overrides.stream;
    contentType = overrides.contentType ?? contentType;
    contentLength = overrides.contentLength;
  }
  return ctx.deps.graph.call({
    method: ctx.request.method,
    version: ctx.version,
    path: ctx.path,
    query: ctx.rawQuery,
    sealedToken: target.number.access_token_sealed,
    contentType: body === undefined ? undefined : contentType,
    contentLength,
    body: body ?? null,
    timeoutMs: overrides.timeoutMs,
  });
}

export function isJson(contentType: string | null): boolean {
  return contentType !== null && /[/+]json\b/i.test(contentType);
}

/** Reads a JSON reply whole; null when Meta answered something else (then the text is kept). */
export async function readJson(reply: GraphReply): Promise<{ json: unknown; text: string }> {
  const text = await reply.body.text();
  if (!isJson(reply.contentType) && !/^\s*[{[]/.test(text)) return { json: null, text };
  try {
    return { json: text === '' ? null : JSON.parse(text), text };
  } catch {
    return { json: null, text };
  }
}

/**
 * `https://graph.facebook.com/v23.0/123/message_templates?access_token=…&after=X` →
 * `<Parley>/meta/whatsapp/v23.0/123/message_templates?after=X`: the token never reaches the client.
 */
export function rewritePagingUrl(raw: string, base: string, version: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  url.searchParams.delete('access_token');
  const segments = url.pathname.split('/').filter(Boolean);
  const at = segments.findIndex((s) => /^v\d+\.\d+$/.test(s));
  const rest = (at >= 0 ? segments.slice(at + 1) : segments).join('/');
  const query = url.searchParams.toString();
  return `${base}/meta/whatsapp/${version}/${rest}${query ? `?${query}` : ''}`;
}

/** Rewrites `paging.next` / `paging.previous` wherever they sit in a reply (top level or nested edges). */
export function rewritePaging(body: unknown, base: string, version: string, depth = 0): void {
  if (depth > 4 || body === null || typeof body !== 'object') return;
  if (Array.isArray(body)) {
    for (const item of body) rewritePaging(item, base, version, depth + 1);
    return;
  }
  const record = body as Record<string, unknown>;
  const paging = record.paging;
  if (paging !== null && typeof paging === 'object' && !Array.isArray(paging)) {
    const links = paging as Record<string, unknown>;
    for (const name of ['next', 'previous']) {
      if (typeof links[name] !== 'string') continue;
      const rewritten = rewritePagingUrl(links[name] as string, base, version);
      if (rewritten === null) delete links[name];
      else links[name] = rewritten;
    }
  }
  for (const [key, value] of Object.entries(record)) if (key !== 'paging' && typeof value === 'object') rewritePaging(value, base, version, depth + 1);
}

/** Answers with a reply already read whole: JSON re-sent with its paging rewritten, anything else as Meta's text. */
export async function answerRead(ctx: ProxyContext, reply: GraphReply, read: { json: unknown; text: string }): Promise<void> {
  const retryAfter = reply.headers['retry-after'];
  if (typeof retryAfter === 'string') void ctx.reply.header('retry-after', retryAfter);
  if (read.json !== null) {
    rewritePaging(read.json, publicBase(ctx), ctx.version);
    await ctx.reply.code(reply.status).type('application/json; charset=utf-8').send(JSON.stringify(read.json));
    return;
  }
  await ctx.reply.code(reply.status).type(reply.contentType ?? 'text/plain; charset=utf-8').send(read.text);
}

/** Answers the client with Meta's reply: JSON re-sent with its paging rewritten, anything else streamed. */
export async function relay(ctx: ProxyContext, reply: GraphReply): Promise<void> {
  if (isJson(reply.contentType) || reply.contentType === null) return answerRead(ctx, reply, await readJson(reply));
  const retryAfter = reply.headers['retry-after'];
  if (typeof retryAfter === 'string') void ctx.reply.header('retry-after', retryAfter);
  await ctx.reply.code(reply.status).type(reply.contentType).send(reply.body);
}

/** The whole of a plain passthrough call. */
export async function forward(ctx: ProxyContext, target: ProxyTarget): Promise<void> {
  await relay(ctx, await callMeta(ctx, target));
}
