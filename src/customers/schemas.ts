// Wire schemas of the customers API.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { noContent, OFFSET_META_EXAMPLE, success } from '../http/openapi.ts';
import { MetaSchema, offsetQueryProperties } from '../http/pagination.ts';

export const CustomerSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    external_customer_id: nullable(Type.String(), 'Your own id for this customer; unique within the project'),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A customer: one of your own clients, owning contacts and phone numbers' },
);
export type Customer = Static<typeof CustomerSchema>;

/** The customer the document's examples show. */
export const CUSTOMER_EXAMPLE: Customer = {
  id: 'c5a1e7d2-8b3f-4e6a-9d0c-1f2e3d4c5b6a',
  name: 'Lisbon Bakery',
  external_customer_id: 'crm-1042',
  created_at: '2026-02-11T10:30:00.000000Z',
  updated_at: '2026-02-11T10:30:00.000000Z',
};

const name = Type.String({ minLength: 1, maxLength: 256 });
const externalId = nullable(Type.String({ minLength: 1, maxLength: 256 }));

export const CreateCustomerBody = Type.Object(
  { customer: Type.Object({ name, external_customer_id: Type.Optional(externalId) }, { additionalProperties: false }) },
  { additionalProperties: false, examples: [{ customer: { name: 'Lisbon Bakery', external_customer_id: 'crm-1042' } }] },
);
export type CreateCustomerBody = Static<typeof CreateCustomerBody>;

export const UpdateCustomerBody = Type.Object(
  { customer: Type.Object({ name: Type.Optional(name), external_customer_id: Type.Optional(externalId) }, { additionalProperties: false }) },
  { additionalProperties: false, examples: [{ customer: { name: 'Lisbon Bakery & Café' } }] },
);
export type UpdateCustomerBody = Static<typeof UpdateCustomerBody>;

export const ListCustomersQuery = Type.Object({
  name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Case-insensitive substring of name' })),
  external_customer_id: Type.Optional(Type.String({ description: 'Exact external_customer_id' })),
  created_after: Type.Optional(Type.String({ format: 'date-time', description: 'Only customers created after this instant' })),
  created_before: Type.Optional(Type.String({ format: 'date-time', description: 'Only customers created before this instant' })),
  ...offsetQueryProperties,
});
export type ListCustomersQuery = Static<typeof ListCustomersQuery>;

const CustomerParams = Type.Object({ customer_id: Type.String({ description: 'Customer id (UUID)' }) });
const CustomerResponse = Type.Object({ data: CustomerSchema });
const notFound = errorResponse('Customer not found');
const bodyErrors = {
  400: errorResponse('Malformed JSON'),
  413: errorResponse('Body larger than 1 MiB'),
  415: errorResponse('Unsupported Content-Type'),
  422: errorResponse('A field is invalid; the message names it'),
};

export const listCustomersSchema = {
  operationId: 'listCustomers',
  summary: 'List customers',
  description: 'Newest first, with page and per_page pagination (at most 100 per page). Filters combine.',
  tags: ['Customers'],
  querystring: ListCustomersQuery,
  response: {
    200: success(Type.Object({ data: Type.Array(CustomerSchema), meta: MetaSchema }), 'A page of customers with its position in `meta`', {
      example: { data: [CUSTOMER_EXAMPLE], meta: OFFSET_META_EXAMPLE },
    }),
    400: errorResponse('Bad pagination parameters'),
    422: errorResponse('A filter value is invalid'),
    ...authErrors,
  },
};
const customerExample = { example: { data: CUSTOMER_EXAMPLE } };

export const createCustomerSchema = {
  operationId: 'createCustomer',
  summary: 'Create a customer',
  description: 'external_customer_id, when given, must be unique in the project: it is how your own systems find the customer again.',
  tags: ['Customers'],
  body: CreateCustomerBody,
  response: { 201: success(CustomerResponse, 'The customer was created', customerExample), ...bodyErrors, ...authErrors },
};
export const getCustomerSchema = {
  operationId: 'getCustomer',
  summary: 'Get a customer',
  description: 'One customer of this project, by its id.',
  tags: ['Customers'],
  params: CustomerParams,
  response: { 200: success(CustomerResponse, 'The customer', customerExample), 404: notFound, ...authErrors },
};
export const updateCustomerSchema = {
  operationId: 'updateCustomer',
  summary: 'Update a customer',
  description: 'Absent fields stay as they are; external_customer_id set to null removes it.',
  tags: ['Customers'],
  params: CustomerParams,
  body: UpdateCustomerBody,
  response: { 200: success(CustomerResponse, 'The customer as it is now', { example: { data: { ...CUSTOMER_EXAMPLE, name: 'Lisbon Bakery & Café' } } }), 404: notFound, ...bodyErrors, ...authErrors },
};
export const deleteCustomerSchema = {
  operationId: 'deleteCustomer',
  summary: 'Delete a customer',
  description: "The customer's contacts stay, with customer_id set to null.",
  tags: ['Customers'],
  params: CustomerParams,
  response: { 204: noContent('The customer was deleted'), 404: notFound, ...authErrors },
};
