// HTTP routes of /whatsapp/phone_numbers and /customers/{id}/whatsapp/phone_numbers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { offsetPage, parseOffsetQuery } from '../http/pagination.ts';
import type { GraphClient } from '../meta-graph/client.ts';
import { ApiError } from '../http/errors.ts';
import { HealthRateLimiter, PhoneNumberHealthService } from './health.ts';
import { createPhoneNumberSchema, deletePhoneNumberSchema, getPhoneNumberHealthSchema, getPhoneNumberSchema, listPhoneNumbersSchema, updatePhoneNumberSchema } from './schemas.ts';
import { PhoneNumbersService } from './service.ts';
import type { TokenCipher } from './token-cipher.ts';

export const phoneNumberRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database>; cipher: TokenCipher; graph: GraphClient }> = async (app, { db, cipher, graph }) => {
  const numbers = new PhoneNumbersService(db, cipher);
  const health = new PhoneNumberHealthService(db, graph);
  const healthLimiter = new HealthRateLimiter();

  app.post('/customers/:customer_id/whatsapp/phone_numbers', { schema: createPhoneNumberSchema }, async (request, reply) => {
    return reply.code(201).send({ data: await numbers.connect(request.auth.projectId, request.params.customer_id, request.body) });
  });

  app.get('/whatsapp/phone_numbers', { schema: listPhoneNumbersSchema }, async (request, reply) => {
    const offset = parseOffsetQuery(request.query);
    const { rows, total } = await numbers.list(request.auth.projectId, request.query, offset);
    return offsetPage(request, reply, rows, total, offset);
  });

  app.get('/whatsapp/phone_numbers/:phone_number_id', { schema: getPhoneNumberSchema }, async (request) => ({
    data: await numbers.get(request.auth.projectId, request.params.phone_number_id),
  }));

  app.patch('/whatsapp/phone_numbers/:phone_number_id', { schema: updatePhoneNumberSchema }, async (request) => {
    const data = await numbers.update(request.auth.projectId, request.params.phone_number_id, request.body);
    health.forget(request.auth.projectId, request.params.phone_number_id);
    return { data };
  });

  app.delete('/whatsapp/phone_numbers/:phone_number_id', { schema: deletePhoneNumberSchema }, async (request, reply) => {
    await numbers.delete(request.auth.projectId, request.params.phone_number_id);
    health.forget(request.auth.projectId, request.params.phone_number_id);
    return reply.code(204).send(null);
  });

  // The counters go on every answer, refusals included; a refused check never reaches Meta.
  app.get('/whatsapp/phone_numbers/:phone_number_id/health', { schema: getPhoneNumberHealthSchema }, async (request, reply) => {
    const { headers, retryAfter } = healthLimiter.take(request.auth.projectId);
    void reply.headers(headers);
    if (retryAfter !== null) {
      throw new ApiError(429, 'Health checks are limited to 5 a second and 60 a minute per project', { headers: { 'retry-after': String(retryAfter) } });
    }
    return health.check(request.auth.projectId, request.params.phone_number_id);
  });
};
