// A business number's contacts on the proxy, `{pnid}/contacts[/{wa_id}]`, served from Parley's
// store and never forwarded. Parley keeps contacts per project, so a number's contacts are those
// with a conversation (active or ended) on it; a contact of the project that never wrote to or was
// written from this number is not found here. Items are the Platform API's contacts.
import { ApiError } from '../http/errors.ts';
import { parseCursorQuery } from '../http/pagination.ts';
import { ContactsService } from '../contacts/service.ts';
import type { ProxyContext, ProxyRoute } from './context.ts';
import { invalidParameter, objectNotFound } from './errors.ts';
import { parseFields } from './fields.ts';
import { numberOf } from './history.ts';
import { ContactChangesBody, ContactListQuery, FieldsQuery, SUCCESS } from './history-schemas.ts';
import { bodyReader, metaPaging, queryReader } from './local-input.ts';
import { unsupportedHere } from './local-only.ts';

const readListQuery = queryReader(ContactListQuery);
const readFieldsQuery = queryReader(FieldsQuery);
const readChanges = bodyReader(ContactChangesBody);

const service = (ctx: ProxyContext) => new ContactsService(ctx.deps.db, ctx.deps.pool);

async function orNotFound<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw objectNotFound('Contact not found');
    throw error;
  }
}

async function listContacts(ctx: ProxyContext) {
  const query = readListQuery(ctx);
  // Contacts have no kapso block; `fields` is still checked, as on every history call.
  parseFields(query.fields);
  const cursor = parseCursorQuery(query);
  const page = await service(ctx).listOfNumber(ctx.projectId, numberOf(ctx), { waId: query.wa_id, customerId: query.customer_id, hasCustomer: query.has_customer }, cursor);
  return { data: page.data, paging: metaPaging(ctx, page.paging) };
}

async function getContact(ctx: ProxyContext) {
  parseFields(readFieldsQuery(ctx).fields);
  return orNotFound(service(ctx).getOfNumber(ctx.projectId, numberOf(ctx), ctx.params.wa_id!));
}

async function updateContact(ctx: ProxyContext) {
  const changes = readChanges(ctx);
  if (Object.keys(changes).length === 0) throw invalidParameter('Request body must set at least one of profile_name, display_name, metadata');
  await orNotFound(service(ctx).updateOfNumber(ctx.projectId, numberOf(ctx), ctx.params.wa_id!, changes));
  return SUCCESS;
}

export const contactRoutes: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ':pnid/contacts', handler: listContacts },
  { method: 'GET', pattern: ':pnid/contacts/:wa_id', handler: getContact },
  { method: 'PATCH', pattern: ':pnid/contacts/:wa_id', handler: updateContact },
  ...unsupportedHere([':pnid/contacts', ':pnid/contacts/:wa_id']),
];
