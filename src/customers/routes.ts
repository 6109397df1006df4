// HTTP routes of /customers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { offsetPage, parseOffsetQuery } from '../http/pagination.ts';
import { createCustomerSchema, deleteCustomerSchema, getCustomerSchema, listCustomersSchema, updateCustomerSchema } from './schemas.ts';
import { CustomersService } from './service.ts';

export const customerRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const customers = new CustomersService(db);

  app.get('/customers', { schema: listCustomersSchema }, async (request, reply) => {
    const offset = parseOffsetQuery(request.query);
    const { rows, total } = await customers.list(request.auth.projectId, request.query, offset);
    return offsetPage(request, reply, rows, total, offset);
  });

  app.post('/customers', { schema: createCustomerSchema }, async (request, reply) => {
    return reply.code(201).send({ data: await customers.create(request.auth.projectId, request.body) });
  });

  app.get('/customers/:customer_id', { schema: getCustomerSchema }, async (request) => ({
    data: await customers.get(request.auth.projectId, request.params.customer_id),
  }));

  app.patch('/customers/:customer_id', { schema: updateCustomerSchema }, async (request) => ({
    data: await customers.update(request.auth.projectId, request.params.customer_id, request.body),
  }));

  app.delete('/customers/:customer_id', { schema: deleteCustomerSchema }, async (request, reply) => {
    await customers.delete(request.auth.projectId, request.params.customer_id);
    return reply.code(204).send(null);
  });
};
