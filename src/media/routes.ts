// HTTP routes of /whatsapp/media: parse, call the ingest, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MediaIngestDeps } from './ingest.ts';
import { ingestMedia } from './ingest.ts';
import { ingestMediaSchema } from './schemas.ts';

export const mediaRoutes: FastifyPluginAsyncTypebox<MediaIngestDeps> = async (app, deps) => {
  const { db, graph, allowPrivate } = deps;
  app.post('/whatsapp/media', { schema: ingestMediaSchema }, async (request) => ({
    data: await ingestMedia({ db, graph, allowPrivate }, request.auth.projectId, request.body),
  }));
};
