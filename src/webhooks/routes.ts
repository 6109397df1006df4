// HTTP routes of /whatsapp/webhooks (the project's webhooks) and
// /whatsapp/phone_numbers/{phone_number_id}/webhooks (one number's webhooks).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { offsetPage, parseOffsetQuery } from '../http/pagination.ts';
import {
  createNumberWebhookSchema,
  createProjectWebhookSchema,
  deleteNumberWebhookSchema,
  deleteProjectWebhookSchema,
  getNumberWebhookSchema,
  getProjectWebhookSchema,
  listNumberWebhooksSchema,
  listProjectWebhooksSchema,
  testWebhookSchema,
  updateNumberWebhookSchema,
  updateProjectWebhookSchema,
} from './schemas.ts';
import { WebhooksService } from './service.ts';

export interface WebhookRoutesOptions {
  db: Kysely<Database>;
  allowPrivateWebhooks: boolean;
  /** Called after a successful create, update, delete or test (the outbox signal looks again). */
  onWebhooksChanged?: () => void;
}

export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, { db, allowPrivateWebhooks, onWebhooksChanged }) => {
  const webhooks = new WebhooksService(db, { allowPrivateWebhooks });
  if (onWebhooksChanged) {
    // This plugin's routes only (Fastify scopes hooks to the plugin that adds them).
    app.addHook('onResponse', (request, reply, done) => {
      if (request.method !== 'GET' && reply.statusCode < 400) onWebhooksChanged();
      done();
    });
  }

  app.get('/whatsapp/webhooks', { schema: listProjectWebhooksSchema }, async (request, reply) => {
    const offset = parseOffsetQuery(request.query);
    const { rows, total } = await webhooks.list(request.auth.projectId, request.query, offset);
    return offsetPage(request, reply, rows, total, offset);
  });

  app.post('/whatsapp/webhooks', { schema: createProjectWebhookSchema }, async (request, reply) => {
    return reply.code(201).send({ data: await webhooks.create(request.auth.projectId, request.body.whatsapp_webhook) });
  });

  app.get('/whatsapp/webhooks/:webhook_id', { schema: getProjectWebhookSchema }, async (request) => ({
    data: await webhooks.get(request.auth.projectId, request.params.webhook_id),
  }));

  app.patch('/whatsapp/webhooks/:webhook_id', { schema: updateProjectWebhookSchema }, async (request) => ({
    data: await webhooks.update(request.auth.projectId, request.params.webhook_id, request.body.whatsapp_webhook),
  }));

  app.delete('/whatsapp/webhooks/:webhook_id', { schema: deleteProjectWebhookSchema }, async (request, reply) => {
    await webhooks.delete(request.auth.projectId, request.params.webhook_id);
    return reply.code(204).send(null);
  });

  // The body is optional: a request without one tests the webhook's default event.
  const emptyBodyIsObject = (request: { body: unknown }, _reply: unknown, done: () => void) => {
    request.body ??= {};
    done();
  };
  app.post('/whatsapp/webhooks/:webhook_id/test', { schema: testWebhookSchema, preValidation: emptyBodyIsObject }, async (request) => {
    await webhooks.test(request.auth.projectId, request.params.webhook_id, request.body.event_type);
    return { data: { success: true } };
  });

  app.get('/whatsapp/phone_numbers/:phone_number_id/webhooks', { schema: listNumberWebhooksSchema }, async (request, reply) => {
    const offset = parseOffsetQuery(request.query);
    const { rows, total } = await webhooks.list(request.auth.projectId, request.query, offset, { phoneNumberId: request.params.phone_number_id });
    return offsetPage(request, reply, rows, total, offset);
  });

  app.post('/whatsapp/phone_numbers/:phone_number_id/webhooks', { schema: createNumberWebhookSchema }, async (request, reply) => {
    const data = await webhooks.create(request.auth.projectId, request.body.whatsapp_webhook, { phoneNumberId: request.params.phone_number_id });
    return reply.code(201).send({ data });
  });

  app.get('/whatsapp/phone_numbers/:phone_number_id/webhooks/:webhook_id', { schema: getNumberWebhookSchema }, async (request) => ({
    data: await webhooks.get(request.auth.projectId, request.params.webhook_id, { phoneNumberId: request.params.phone_number_id }),
  }));

  app.patch('/whatsapp/phone_numbers/:phone_number_id/webhooks/:webhook_id', { schema: updateNumberWebhookSchema }, async (request) => ({
    data: await webhooks.update(request.auth.projectId, request.params.webhook_id, request.body.whatsapp_webhook, { phoneNumberId: request.params.phone_number_id }),
  }));

  app.delete('/whatsapp/phone_numbers/:phone_number_id/webhooks/:webhook_id', { schema: deleteNumberWebhookSchema }, async (request, reply) => {
    await webhooks.delete(request.auth.projectId, request.params.webhook_id, { phoneNumberId: request.params.phone_number_id });
    return reply.code(204).send(null);
  });
};
