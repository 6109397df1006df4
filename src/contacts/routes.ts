// HTTP routes of /whatsapp/contacts: parse, call the service, shape the response.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/schema.ts';
import { noneMatchHits, parseIfMatch } from '../http/etag.ts';
import { requestFingerprint, withIdempotency } from '../http/idempotency.ts';
import { offsetPage, parseCursorQuery, parseOffsetQuery } from '../http/pagination.ts';
import { createContactSchema, eraseContactSchema, getContactSchema, listContactsSchema, updateContactSchema } from './schemas.ts';
import { ContactsService, offsetLimitError } from './service.ts';

export interface ContactRoutesOptions {
  db: Kysely<Database>;
  /** The pool under `db`, for the prepared statements of the hot path. */
  pool: pg.Pool;
}

const MERGE_PATCH = 'application/merge-patch+json';

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

export const contactRoutes: FastifyPluginAsyncTypebox<ContactRoutesOptions> = async (app, { db, pool }) => {
  const contacts = new ContactsService(db, pool);

  app.get('/whatsapp/contacts', { schema: listContactsSchema }, async (request, reply) => {
    const query = request.query;
    if (query.page !== undefined || query.per_page !== undefined) {
      const offset = parseOffsetQuery(query, null); // contacts answer oversized pages with their own body
      const limitError = offsetLimitError(offset, `${request.protocol}://${request.host}`);
      if (limitError) throw limitError;
      const { rows, total } = await contacts.listByOffset(request.auth.projectId, query, offset);
      return offsetPage(request, reply, rows, total, offset);
    }
    return contacts.listByCursor(request.auth.projectId, query, parseCursorQuery(query));
  });

  app.post('/whatsapp/contacts', { schema: createContactSchema }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const result = await withIdempotency(db, request.auth.projectId, key, requestFingerprint('POST', '/whatsapp/contacts', request.body), async (tx) => {
      const { contact, etag } = await contacts.create(request.auth.projectId, request.body, tx);
      return { status: 201, body: { data: contact }, headers: { etag } };
    });
    for (const [name, value] of Object.entries(result.headers ?? {})) void reply.header(name, value);
    if (result.replayed) void reply.header('idempotent-replayed', 'true');
    return reply.code(result.status as 201).send(result.body as never);
  });

  app.get('/whatsapp/contacts/:identifier', { schema: getContactSchema }, async (request, reply) => {
    const { contact, etag } = await contacts.get(request.auth.projectId, request.params.identifier);
    void reply.header('etag', etag);
    if (noneMatchHits(singleHeader(request.headers['if-none-match']), etag)) return reply.code(304).send(null);
    return { data: contact };
  });

  app.patch('/whatsapp/contacts/:identifier', { schema: updateContactSchema }, async (request, reply) => {
    const merge = (request.headers['content-type'] ?? '').toLowerCase().startsWith(MERGE_PATCH);
    const { contact, etag } = await contacts.update(request.auth.projectId, request.params.identifier, request.body, {
      merge,
      ifMatch: parseIfMatch(singleHeader(request.headers['if-match'])),
    });
    void reply.header('etag', etag);
    return { data: contact };
  });

  app.delete('/whatsapp/contacts/:identifier', { schema: eraseContactSchema }, async (request, reply) => {
    await contacts.erase(request.auth.projectId, request.params.identifier, parseIfMatch(singleHeader(request.headers['if-match'])));
    return reply.code(204).send(null);
  });
};
