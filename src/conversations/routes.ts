// HTTP routes of /whatsapp/conversations: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { getConversationSchema, listConversationsSchema, updateConversationSchema } from './schemas.ts';
import { ConversationsService } from './service.ts';

export const conversationRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const conversations = new ConversationsService(db);

  app.get('/whatsapp/conversations', { schema: listConversationsSchema }, async (request) =>
    conversations.list(request.auth.projectId, request.query, parseCursorQuery(request.query)),
  );

  app.get('/whatsapp/conversations/:id', { schema: getConversationSchema }, async (request) => ({
    data: await conversations.get(request.auth.projectId, request.params.id),
  }));

  app.patch('/whatsapp/conversations/:id', { schema: updateConversationSchema }, async (request) => ({
    data: await conversations.setStatus(request.auth.projectId, request.params.id, request.body.whatsapp_conversation.status as 'active' | 'ended'),
  }));
};
