// What the OpenAPI document says beyond the route schemas: the tags and their order, the docs
// page, the conditional-request and idempotency headers, and a helper that gives a success
// response its description, headers and example. @fastify/swagger turns all of it into
// /platform/v1/openapi.json; test/http/openapi.test.ts holds the document to these rules.
import { Type, type TSchema } from 'typebox';
import { errorResponse } from './errors.ts';

export const DOCS_PATH = '/docs';

export const API_DESCRIPTION =
  'Parley is a self-hosted WhatsApp platform server. This API manages customers, their WhatsApp business numbers, ' +
  'the contacts, conversations and messages that WhatsApp traffic brings in, and the webhooks that deliver events ' +
  'to your application. Paths, bodies and operation ids follow the Kapso Platform API, so existing clients work unchanged.\n\n' +
  'Authenticate every /platform/v1 request with a project API key in the `X-API-Key` header (`parley keys create` makes one). ' +
  'Errors are JSON objects of the form `{"error": "..."}`; the message names the field or rule at fault.';

/** The tags in the order a reader meets them: set up, receive traffic, get notified, run the server. */
export const API_TAGS = [
  { name: 'Customers', description: 'Your own clients. A customer owns WhatsApp business numbers and can be linked to contacts.' },
  { name: 'Phone Numbers', description: 'WhatsApp business numbers connected with their Meta ids and access token. The token is stored encrypted and never returned.' },
  {
    name: 'Contacts',
    description:
      'The people who write to your numbers. Look one up by id, phone number or business-scoped user id, name it, attach metadata, ' +
      'erase it, and read its marketing preferences. Reads carry an ETag for conditional requests.',
  },
  { name: 'Conversations', description: 'One thread per business number and contact, opened by inbound traffic; end or reopen it.' },
  { name: 'Messages', description: "Messages received and sent, in Meta's message format with Parley's delivery status and a readable preview." },
  { name: 'Media', description: 'Files for sending: fetched from a public URL and uploaded to Meta for one of your numbers.' },
  { name: 'Webhooks', description: 'Endpoints Parley POSTs events to, signed with HMAC-SHA256: project webhooks for contacts and numbers, number webhooks for messages and conversations.' },
  { name: 'Webhook Deliveries', description: 'The log of every event sent to your webhooks, with its attempts, status and errors, kept for 30 days.' },
  { name: 'API Logs', description: 'Every request made with the project’s API keys: path, status, time taken and error, kept for 30 days.' },
  { name: 'Meta webhooks', description: 'The endpoint Meta calls with WhatsApp traffic. Configure its URL in your Meta app; it needs no API key.' },
  { name: 'Server', description: 'Health, readiness and Prometheus metrics, for load balancers and monitoring. No API key.' },
];

/** The docs page: Scalar's reference, titled Parley, with nothing loaded from another host. */
// Pinned at 1.46: later releases (and their dependencies) require Node 22, and Parley supports Node 20.
export const docsPageConfiguration = {
  pageTitle: 'Parley API reference',
  // A speech bubble as an inline SVG: the tab shows Parley's icon without a request anywhere.
  favicon:
    'data:image/svg+xml,' +
    encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#128c7e"/><path d="M8 9h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9l-5 4v-4H8a2 2 0 0 1-2-2v-9a2 2 0 0 1 2-2z" fill="#fff"/></svg>'),
  // Scalar's defaults fetch fonts and report usage to its own servers; the page must work offline.
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  hideClientButton: false,
  showDeveloperTools: 'never' as const,
  hideDownloadButton: false,
  showOperationId: true,
  metaData: { title: 'Parley API reference', description: 'Self-hosted WhatsApp platform server' },
  customCss: '.darklight-reference-promo, a[href*="scalar.com"] { display: none !important; }',
};

// Request headers, as header parameters of the operations that honour them. Their names are
// written in lower case: with our own validator compiler Fastify does not lower-case header schemas.
export const IF_MATCH = Type.Optional(
  Type.String({ description: 'An ETag from an earlier read: the change is made only while the contact is unchanged, else 412', examples: ['"3f1c9a2b7d"'] }),
);
export const IF_NONE_MATCH = Type.Optional(
  Type.String({ description: 'An ETag from an earlier read: 304 with no body while the contact is unchanged', examples: ['"3f1c9a2b7d"'] }),
);
export const IDEMPOTENCY_KEY = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'Any unique string (a UUID is good): a retry with the same key and body replays the first response for 24 hours instead of creating again',
    examples: ['6f1d5c1e-6a36-4d7e-9a9b-2d8a5a0c1f10'],
  }),
);

// Response headers.
export const ETAG_HEADER = { type: 'string', description: 'Version of the contact; send it back in If-Match or If-None-Match' };
export const REPLAYED_HEADER = { type: 'string', enum: ['true'], description: 'Present when this answer is the replay of an earlier request with the same Idempotency-Key' };

/** The `meta` block of an offset-paginated example list. */
export const OFFSET_META_EXAMPLE = { page: 1, per_page: 20, total_pages: 1, total_count: 1 };

/** The `paging` block of a cursor-paginated example list: one page, nothing before or after. */
export const PAGING_EXAMPLE = {
  cursors: { before: 'eyJ0IjoiMjAyNi0wMy0wNFQwOToxMjo0NC41MDMyMTFaIn0', after: 'eyJ0IjoiMjAyNi0wMy0wNFQwOToxMjo0NC41MDMyMTFaIn0' },
  next: null,
  previous: null,
};

export interface SuccessOptions {
  example?: unknown;
  headers?: Record<string, object>;
}

/**
 * A success response for the document: the description a reader sees instead of "Default
 * Response", its headers, and an example body. The schema itself is unchanged, so it still
 * drives serialisation and the handler's types.
 */
export function success<T extends TSchema>(schema: T, description: string, options: SuccessOptions = {}): T {
  return {
    ...schema,
    description,
    ...(options.example !== undefined ? { examples: [options.example] } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  } as T;
}

/** A response with no body (204, 304). */
export function noContent(description: string, headers?: Record<string, object>) {
  return Type.Null({ description, ...(headers ? { headers } : {}) });
}

export const healthSchema = {
  operationId: 'getHealth',
  summary: 'Liveness',
  description: 'Answers 200 while the process runs, without touching the database. Suited to a liveness probe.',
  tags: ['Server'],
  security: [],
  response: { 200: success(Type.Object({ status: Type.String({ enum: ['ok'] }) }), 'The process is up', { example: { status: 'ok' } }) },
};

export const readinessSchema = {
  operationId: 'getReadiness',
  summary: 'Readiness',
  description: 'Answers 200 when the database answers a query, 503 otherwise. Suited to a readiness probe or a load balancer check.',
  tags: ['Server'],
  security: [],
  response: {
    200: success(Type.Object({ status: Type.String({ enum: ['ready'] }) }), 'The server can take requests', { example: { status: 'ready' } }),
    503: errorResponse('The database does not answer'),
  },
};
