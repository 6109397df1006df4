// HTTP route of /webhook_deliveries: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { listWebhookDeliveriesSchema } from './schemas.ts';
import { WebhookDeliveriesService } from './service.ts';

export const webhookDeliveryRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const deliveries = new WebhookDeliveriesService(db);

  app.get('/webhook_deliveries', { schema: listWebhookDeliveriesSchema }, async (request) =>
    deliveries.list(request.auth.projectId, request.query, parseCursorQuery(request.query)),
  );
};
