// Conversations on the proxy: `{pnid}/conversations[/{id}]` (a number's) and the SDK's unscoped
// `conversations/{id}` (any of the key's project), served from Parley's store and never forwarded.
// Items are the Platform API's conversations plus `whatsapp_config_id`, which Kapso's proxy
// documents as required: the id of the number's connection.
import { ApiError } from '../http/errors.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { ConversationsService } from '../conversations/service.ts';
import type { ProxyContext, ProxyRoute } from './context.ts';
import { objectNotFound } from './errors.ts';
import { parseFields, selectKapso } from './fields.ts';
import { numberOf } from './history.ts';
import { ConversationListQuery, ConversationStatusBody, FieldsQuery, SUCCESS } from './history-schemas.ts';
import { bodyReader, metaPaging, queryReader } from './local-input.ts';
import { unsupportedHere } from './local-only.ts';

const readListQuery = queryReader(ConversationListQuery);
const readFieldsQuery = queryReader(FieldsQuery);
const readStatusBody = bodyReader(ConversationStatusBody);

const service = (ctx: ProxyContext) => new ConversationsService(ctx.deps.db);

/** Parley's "Conversation not found" in Meta's shape; a conversation of another project is one of them. */
async function orNotFound<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw objectNotFound('Conversation not found');
    throw error;
  }
}

async function listConversations(ctx: ProxyContext) {
  const query = readListQuery(ctx);
  const selection = parseFields(query.fields);
  const cursor = parseCursorQuery(query);
  const page = await service(ctx).listOfNumber(
    ctx.projectId,
    numberOf(ctx),
    { status: query.status as 'active' | 'ended' | undefined, lastActiveSince: query.last_active_since, lastActiveUntil: query.last_active_until, phoneNumber: query.phone_number },
    cursor,
  );
  return { data: page.data.map((conversation) => selectKapso(conversation, selection)), paging: metaPaging(ctx, page.paging) };
}

/** `{pnid}/conversations/{id}` or `conversations/{id}`: the path's number, if it names one, scopes the lookup. */
async function getConversation(ctx: ProxyContext) {
  const selection = parseFields(readFieldsQuery(ctx).fields);
  const scope = ctx.target ? numberOf(ctx) : undefined;
  return selectKapso(await orNotFound(service(ctx).getOfNumber(ctx.projectId, ctx.params.id!, scope)), selection);
}

async function updateConversation(ctx: ProxyContext) {
  const { status } = readStatusBody(ctx);
  const conversations = service(ctx);
  // A number in the path must be the conversation's, as for a read.
  if (ctx.target) await orNotFound(conversations.getOfNumber(ctx.projectId, ctx.params.id!, numberOf(ctx)));
  await orNotFound(conversations.setStatus(ctx.projectId, ctx.params.id!, status as 'active' | 'ended'));
  return SUCCESS;
}

export const conversationRoutes: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ':pnid/conversations', handler: listConversations },
  { method: 'GET', pattern: ':pnid/conversations/:id', handler: getConversation },
  { method: 'PATCH', pattern: ':pnid/conversations/:id', handler: updateConversation },
  { method: 'GET', pattern: 'conversations/:id', handler: getConversation },
  { method: 'PATCH', pattern: 'conversations/:id', handler: updateConversation },
  ...unsupportedHere([':pnid/conversations', ':pnid/conversations/:id', 'conversations/:id']),
];
