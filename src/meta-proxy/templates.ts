// {waba}/message_templates: forwarded to Meta as they are, and what Meta answers is kept in the
// template cache (src/templates/) that the send path reads a template's category from. A cache
// write that fails never changes the client's answer.
import { catalogFor } from '../templates/service.ts';
import type { ProxyContext, ProxyRoute } from './context.ts';
import { answerRead, callMeta, readJson } from './passthrough.ts';

const ok = (status: number) => status >= 200 && status < 300;

/** Caching is a side effect: logged when it fails, never in the way of Meta's answer. */
async function cacheQuietly(ctx: ProxyContext, what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    ctx.deps.logger.warn({ waba: ctx.target!.number.business_account_id, cause: (error as Error).message }, `template cache not updated after ${what}`);
  }
}

async function listTemplates(ctx: ProxyContext): Promise<undefined> {
  const reply = await callMeta(ctx, ctx.target!);
  const read = await readJson(reply);
  const data = (read.json as { data?: unknown } | null)?.data;
  if (ok(reply.status) && Array.isArray(data)) {
    await cacheQuietly(ctx, 'a list', () => catalogFor(ctx.deps).rememberListed(ctx.projectId, ctx.target!.number.business_account_id, data));
  }
  await answerRead(ctx, reply, read);
  return undefined;
}

async function createTemplate(ctx: ProxyContext): Promise<undefined> {
  const reply = await callMeta(ctx, ctx.target!);
  const read = await readJson(reply);
  const created = read.json;
  if (ok(reply.status) && created !== null) {
    await cacheQuietly(ctx, 'a creation', () => catalogFor(ctx.deps).rememberCreated(ctx.projectId, ctx.target!.number.business_account_id, ctx.json, created));
  }
  await answerRead(ctx, reply, read);
  return undefined;
}

async function deleteTemplate(ctx: ProxyContext): Promise<undefined> {
  // Without a name Meta answers with its own error, and there is nothing to uncache.
  const name = typeof ctx.query.name === 'string' && ctx.query.name !== '' ? ctx.query.name : null;
  const reply = await callMeta(ctx, ctx.target!);
  const read = await readJson(reply);
  if (ok(reply.status) && name !== null) {
    const which = {
      name,
      templateId: typeof ctx.query.hsm_id === 'string' && ctx.query.hsm_id !== '' ? ctx.query.hsm_id : undefined,
      language: typeof ctx.query.language === 'string' && ctx.query.language !== '' ? ctx.query.language : undefined,
    };
    await cacheQuietly(ctx, 'a deletion', () => catalogFor(ctx.deps).forgetDeleted(ctx.projectId, ctx.target!.number.business_account_id, which));
  }
  await answerRead(ctx, reply, read);
  return undefined;
}

export const templateRoutes: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ':waba/message_templates', handler: listTemplates },
  { method: 'POST', pattern: ':waba/message_templates', handler: createTemplate },
  { method: 'DELETE', pattern: ':waba/message_templates', handler: deleteTemplate },
];
