// HTTP routes of /whatsapp/messages: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { getMessageSchema, listMessagesSchema } from './schemas.ts';
import { MessagesService } from './service.ts';

export const messageRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const messages = new MessagesService(db);

  app.get('/whatsapp/messages', { schema: listMessagesSchema }, async (request) => messages.list(request.auth.projectId, request.query, parseCursorQuery(request.query)));

  app.get('/whatsapp/messages/:wamid', { schema: getMessageSchema }, async (request) => ({
    data: await messages.get(request.auth.projectId, request.params.wamid),
  }));
};
