// Meta's webhook endpoint, outside /platform/v1 and without an API key:
// GET answers Meta's subscription check; POST checks the signature over the exact bytes, stores
// the body durably and answers 200 at once (the worker processes it afterwards).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { Database } from '../db/schema.ts';
import { errorResponse } from '../http/errors.ts';
import { EventStore } from './event-store.ts';
import { laneOf } from './sender-lane.ts';
import { verifySignature } from './signature.ts';

export interface MetaWebhookOptions {
  db: Kysely<Database>;
  verifyToken: string | null;
  appSecrets: readonly string[];
  /** Called after each body is committed (the server wakes its inbound workers). */
  onStored?: () => void;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const metaWebhookRoutes: FastifyPluginAsyncTypebox<MetaWebhookOptions> = async (app, options) => {
  const store = new EventStore(options.db);
  // The signature covers the raw bytes, so the body is kept as a Buffer here (this scope only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.get(
    '/webhooks/meta',
    {
      schema: {
        operationId: 'verifyMetaWebhook',
        summary: "Meta's webhook verification",
        description: 'Meta calls this once when you subscribe the webhook in your Meta app: the challenge is echoed when the verify token equals PARLEY_META_VERIFY_TOKEN.',
        tags: ['Meta webhooks'],
        security: [],
        produces: ['text/plain'],
        querystring: Type.Object({
          'hub.mode': Type.Optional(Type.String({ description: 'Always "subscribe"' })),
          'hub.verify_token': Type.Optional(Type.String({ description: 'The verify token entered in the Meta app; must equal PARLEY_META_VERIFY_TOKEN' })),
          'hub.challenge': Type.Optional(Type.String({ description: 'A value Meta expects back unchanged' })),
        }),
        response: {
          200: Type.String({ description: 'The challenge, as plain text', examples: ['1158201444'] }),
          403: errorResponse('Not a valid verification request, or the verify token does not match'),
        },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const token = query['hub.verify_token'];
      if (query['hub.mode'] !== 'subscribe' || options.verifyToken === null || token === undefined || !sameText(token, options.verifyToken) || !query['hub.challenge']) {
        return reply.code(403).send({ error: 'Webhook verification failed' });
      }
      return reply.type('text/plain').send(query['hub.challenge']);
    },
  );

  app.post(
    '/webhooks/meta',
    {
      schema: {
        operationId: 'receiveMetaWebhook',
        summary: "Meta's webhook deliveries",
        description:
          'Meta POSTs WhatsApp messages, statuses and account events here, signed with X-Hub-Signature-256 by one of the app secrets in ' +
          'PARLEY_META_APP_SECRET. The body is stored durably, then answered; processing follows in the background.',
        tags: ['Meta webhooks'],
        security: [],
        headers: Type.Object({
          'x-hub-signature-256': Type.Optional(Type.String({ description: 'sha256=<hex HMAC-SHA256 of the raw body under the app secret>' })),
        }),
        response: {
          200: Type.Object({ received: Type.Boolean() }, { description: 'The body was stored for processing', examples: [{ received: true }] }),
          400: errorResponse('Body is not JSON'),
          401: errorResponse('Missing or wrong X-Hub-Signature-256'),
          413: errorResponse('Body larger than 1 MiB'),
          503: errorResponse('No app secret configured to check signatures'),
        },
      },
    },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (options.appSecrets.length === 0) {
        request.log.error('a Meta webhook arrived but PARLEY_META_APP_SECRET is not set; refusing it');
        return reply.code(503).send({ error: 'Meta webhooks are not configured on this server (set PARLEY_META_APP_SECRET)' });
      }
      const header = request.headers['x-hub-signature-256'];
      if (!verifySignature(raw, Array.isArray(header) ? header[0] : header, options.appSecrets)) {
        request.log.warn('Meta webhook with a missing or wrong signature refused');
        return reply.code(401).send({ error: 'Missing or invalid X-Hub-Signature-256' });
      }
      const text = raw.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return reply.code(400).send({ error: 'Request body is not valid JSON' });
      }
      // PostgreSQL text cannot hold NUL; such a body cannot be a real Meta payload.
      if (text.includes('\u0000')) return reply.code(400).send({ error: 'Request body contains a NUL character' });
      await store.store(text, laneOf(parsed));
      options.onStored?.();
      request.log.debug('Meta webhook stored');
      return { received: true };
    },
  );
};
