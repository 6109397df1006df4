// HTTP route of /api_logs: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { listApiLogsSchema } from './schemas.ts';
import { ApiLogsService } from './service.ts';

export const apiLogRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const logs = new ApiLogsService(db);
  app.get('/api_logs', { schema: listApiLogsSchema }, async (request) => logs.list(request.auth.projectId, request.query, parseCursorQuery(request.query)));
};
