// POST {pnid}/messages: every send through the proxy goes down the one send path
// (src/sending/), which forwards, records and answers with Meta's reply as it came.
import { type SendDeps, sendMessage } from '../sending/service.ts';
import { catalogFor } from '../templates/service.ts';
import type { ProxyContext, ProxyDeps, ProxyRoute } from './context.ts';

const sendDeps = new WeakMap<ProxyDeps, SendDeps>();

function depsOf(deps: ProxyDeps): SendDeps {
  let found = sendDeps.get(deps);
  if (!found) {
    found = { db: deps.db, graph: deps.graph, logger: deps.logger, templates: catalogFor(deps), recorder: deps.recorder };
    sendDeps.set(deps, found);
  }
  return found;
}

async function send(ctx: ProxyContext): Promise<undefined> {
  const result = await sendMessage(depsOf(ctx.deps), {
    projectId: ctx.projectId,
    number: ctx.target!.number,
    version: ctx.version,
    body: ctx.json,
    rawBody: ctx.rawBody,
  });
  if (result.retryAfter !== undefined) void ctx.reply.header('retry-after', result.retryAfter);
  await ctx.reply.code(result.status).type('application/json; charset=utf-8').send(result.text);
  return undefined;
}

export const sendRoutes: readonly ProxyRoute[] = [{ method: 'POST', pattern: ':pnid/messages', handler: send }];
