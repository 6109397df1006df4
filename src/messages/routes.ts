// HTTP routes of /whatsapp/messages: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import type { MediaLinks } from '../media/links.ts';
import { getMessageSchema, listMessagesSchema } from './schemas.ts';
import { MessagesService } from './service.ts';

export const messageRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database>; mediaLinks?: MediaLinks }> = async (app, { db, mediaLinks }) => {
  const messages = new MessagesService(db);

  app.get('/whatsapp/messages', { schema: listMessagesSchema }, async (request) =>
    messages.list(request.auth.projectId, request.query, parseCursorQuery(request.query), mediaLinks?.storedFor(request, request.auth.projectId)),
  );

  app.get('/whatsapp/messages/:wamid', { schema: getMessageSchema }, async (request) => ({
    data: await messages.get(request.auth.projectId, request.params.wamid, mediaLinks?.storedFor(request, request.auth.projectId)),
  }));
};
