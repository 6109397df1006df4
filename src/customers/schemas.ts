// Wire schemas of the customers API.
import { Type, type Static } from 'typebox';
import { nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
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

const name = Type.String({ minLength: 1, maxLength: 256 });
const externalId = nullable(Type.String({ minLength: 1, maxLength: 256 }));

export const CreateCustomerBody = Type.Object(
  { customer: Type.Object({ name, external_customer_id: Type.Optional(externalId) }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export type CreateCustomerBody = Static<typeof CreateCustomerBody>;

export const UpdateCustomerBody = Type.Object(
  { customer: Type.Object({ name: Type.Optional(name), external_customer_id: Type.Optional(externalId) }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export type UpdateCustomerBody = Static<typeof UpdateCustomerBody>;

export const ListCustomersQuery = Type.Object({
  name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Case-insensitive substring of name' })),
  external_customer_id: Type.Optional(Type.String({ description: 'Exact external_customer_id' })),
  created_after: Type.Optional(Type.String({ format: 'date-time' })),
  created_before: Type.Optional(Type.String({ format: 'date-time' })),
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
  summary: 'List customers',
  tags: ['Customers'],
  querystring: ListCustomersQuery,
  response: {
    200: Type.Object({ data: Type.Array(CustomerSchema), meta: MetaSchema }),
    400: errorResponse('Bad pagination parameters'),
    422: errorResponse('A filter value is invalid'),
    ...authErrors,
  },
};
export const createCustomerSchema = { summary: 'Create a customer', tags: ['Customers'], body: CreateCustomerBody, response: { 201: CustomerResponse, ...bodyErrors, ...authErrors } };
export const getCustomerSchema = { summary: 'Get a customer', tags: ['Customers'], params: CustomerParams, response: { 200: CustomerResponse, 404: notFound, ...authErrors } };
export const updateCustomerSchema = {
  summary: 'Update a customer',
  tags: ['Customers'],
  params: CustomerParams,
  body: UpdateCustomerBody,
  response: { 200: CustomerResponse, 404: notFound, ...bodyErrors, ...authErrors },
};
export const deleteCustomerSchema = {
  summary: 'Delete a customer',
  description: "The customer's contacts stay, with customer_id set to null.",
  tags: ['Customers'],
  params: CustomerParams,
  response: { 204: Type.Null({ description: 'Deleted' }), 404: notFound, ...authErrors },
};
