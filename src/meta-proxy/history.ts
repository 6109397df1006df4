// A business number's message history (`GET {pnid}/messages[/{wamid}]`) and its call history
// (`GET {pnid}/calls`), served from Parley's store, never forwarded. The items are the Platform
// API's messages, scoped by the path's number; only the paging and the `kapso` block are reshaped.
import { parseCursorQuery } from '../http/pagination.ts';
import { ApiError } from '../http/errors.ts';
import { MessagesService } from '../messages/service.ts';
import type { ProxyContext, ProxyRoute } from './context.ts';
import { MetaError } from './errors.ts';
import { parseFields, selectKapso } from './fields.ts';
import { CallListQuery, FieldsQuery, MessageHistoryQuery } from './history-schemas.ts';
import { metaPaging, queryReader } from './local-input.ts';

const readHistoryQuery = queryReader(MessageHistoryQuery);
const readFieldsQuery = queryReader(FieldsQuery);
const readCallQuery = queryReader(CallListQuery);

/** The number a `:pnid` route was matched for (the router only matches those with a number target). */
export function numberOf(ctx: ProxyContext): string {
  return ctx.target!.number.phone_number_id;
}

/** Kapso's refusal for a message that is not this number's. */
const messageNotFound = () => new MetaError(404, 'Message not found', 'MessageError', 404);

async function listMessages(ctx: ProxyContext) {
  const query = readHistoryQuery(ctx);
  const selection = parseFields(query.fields);
  const cursor = parseCursorQuery(query);
  const page = await new MessagesService(ctx.deps.db).listOfNumber(
    ctx.projectId,
    numberOf(ctx),
    { conversationId: query.conversation_id, direction: query.direction as 'inbound' | 'outbound' | undefined, status: query.status, since: query.since, until: query.until },
    cursor,
    ctx.deps.mediaLinks?.storedFor(ctx.request, ctx.projectId),
  );
  return { data: page.data.map((message) => selectKapso(message, selection)), paging: metaPaging(ctx, page.paging) };
}

async function getMessage(ctx: ProxyContext) {
  const selection = parseFields(readFieldsQuery(ctx).fields);
  try {
    return selectKapso(await new MessagesService(ctx.deps.db).getOfNumber(ctx.projectId, numberOf(ctx), ctx.params.wamid!, ctx.deps.mediaLinks?.storedFor(ctx.request, ctx.projectId)), selection);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw messageNotFound();
    throw error;
  }
}

/** Parley records no calls yet: an empty page, after the same checks a real list makes. */
async function listCalls(ctx: ProxyContext) {
  const query = readCallQuery(ctx);
  parseFields(query.fields);
  parseCursorQuery(query);
  return { data: [], paging: { cursors: {} } };
}

export const historyRoutes: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ':pnid/messages', handler: listMessages },
  { method: 'GET', pattern: ':pnid/messages/:wamid', handler: getMessage },
  { method: 'GET', pattern: ':pnid/calls', handler: listCalls },
];
