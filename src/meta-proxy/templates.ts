// {waba}/message_templates: forwarded to Meta as they are, and what Meta answers is kept in the
// template cache (src/templates/) that the send path reads a template's category from. A cache
// write that fails never changes the client's answer.
import { catalogFor } from '../templates/service.ts';
import { type ProxyContext, type ProxyRoute, publicBase } from './context.ts';
import { callMeta, readJson, relay, rewritePaging } from './passthrough.ts';

const ok = (status: number) => status >= 200 && status < 300;

/** Caching is a side effect: logged when it fails, never in the way of Meta's answer. */
async function cacheQuietly(ctx: ProxyContext, what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    ctx.deps.logger.warn({ waba: ctx.target!.number.business_account_id, cause: (error as Error).message }, `template cache not updated after ${what}`);
  }
}

/** Answers with Meta's status and JSON (paging rewritten), or with Meta's text when it was not JSON. */
async function answer(ctx: ProxyContext, status: number, json: unknown, text: string, retryAfter: unknown): Promise<undefined> {
  if (typeof retryAfter === 'string') void ctx.reply.header('retry-after', retryAfter);
  if (json === null) {
    await ctx.reply.code(status).type('text/plain; charset=utf-8').send(text);
    return undefined;
  }
  rewritePaging(json, publicBase(ctx), ctx.version);
  await ctx.reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(json));
  return undefined;
}

async function listTemplates(ctx: ProxyContext): Promise<undefined> {
  const reply = await callMeta(ctx, ctx.target!);
  const { json, text } = await readJson(reply);
  const data = (json as { data?: unknown } | null)?.data;
  if (ok(reply.status) && Array.isArray(data)) {
    await cacheQuietly(ctx, 'a list', () => catalogFor(ctx.deps).rememberListed(ctx.projectId, ctx.target!.number.business_account_id, data));
  }
  return answer(ctx, reply.status, json, text, reply.headers['retry-after']);
}

async function createTemplate(ctx: ProxyContext): Promise<undefined> {
  const reply = await callMeta(ctx, ctx.target!);
  const { json, text } = await readJson(reply);
  if (ok(reply.status) && json !== null) {
    await cacheQuietly(ctx, 'a creation', () => catalogFor(ctx.deps).rememberCreated(ctx.projectId, ctx.target!.number.business_account_id, ctx.json, json));
  }
  return answer(ctx, reply.status, json, text, reply.headers['retry-after']);
}

async function deleteTemplate(ctx: ProxyContext): Promise<undefined> {
  const name = typeof ctx.query.name === 'string' && ctx.query.name !== '' ? ctx.query.name : null;
  if (name === null) {
    // Meta answers a delete without a name with its own error; nothing to uncache.
    await relay(ctx, await callMeta(ctx, ctx.target!));
    return undefined;
  }
  const reply = await callMeta(ctx, ctx.target!);
  const { json, text } = await readJson(reply);
  if (ok(reply.status)) {
    const which = {
      name,
      templateId: typeof ctx.query.hsm_id === 'string' && ctx.query.hsm_id !== '' ? ctx.query.hsm_id : undefined,
      language: typeof ctx.query.language === 'string' && ctx.query.language !== '' ? ctx.query.language : undefined,
    };
    await cacheQuietly(ctx, 'a deletion', () => catalogFor(ctx.deps).forgetDeleted(ctx.projectId, ctx.target!.number.business_account_id, which));
  }
  return answer(ctx, reply.status, json, text, reply.headers['retry-after']);
}

export const templateRoutes: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ':waba/message_templates', handler: listTemplates },
  { method: 'POST', pattern: ':waba/message_templates', handler: createTemplate },
  { method: 'DELETE', pattern: ':waba/message_templates', handler: deleteTemplate },
];
