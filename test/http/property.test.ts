// Property tests of EVERY route the app registers (read from Fastify, so a new route is covered
// without touching this file), with random and NUL-laden path parameters, query strings and
// bodies (and Idempotency-Key headers): never a 5xx; every 4xx is `{"error": sentence}` (the legacy pagination 400 of contacts
// excepted) and leaves every stored row as it was; and a request carrying a NUL character is
// never accepted (2xx). test/contacts/property.test.ts goes deeper into the contacts endpoints.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, deliver, drain, freshUser, textBody } from '../helpers/meta.ts';

const BASE = '/platform/v1';
const RUNS = Number(process.env.PARLEY_ROUTE_PROPERTY_RUNS ?? 40);
/** Rows a refused request must not touch (idempotency records keep refusals on purpose). */
const TABLES = [
  'projects', 'api_keys', 'customers', 'contacts', 'jobs', 'phone_numbers', 'meta_events', 'conversations', 'messages', 'pending_statuses',
  'marketing_preferences', 'webhooks', 'webhook_events', 'webhook_deliveries', 'webhook_attempts', 'webhook_inactivity_notices', 'media_files', 'media_chunks',
];

interface Route {
  method: string;
  url: string;
}

/** The routes of `printRoutes({ commonPrefix: false })`: a tree whose levels are indented by four characters. */
export function registeredRoutes(tree: string): Route[] {
  const routes: Route[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│├└─ ]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const url = `${prefixes[depth - 1] ?? ''}${match[2]}`;
    prefixes[depth] = url;
    prefixes.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ').filter((m) => m !== '' && m !== 'HEAD' && m !== 'OPTIONS')) routes.push({ method, url });
  }
  return routes;
}

// ---- the app, with one of each resource so that random requests also reach real rows -----------

const t: TestApp = await startTestApp();
after(async () => t.close());

const number = await connectNumber(t);
const customer = (await t.request({ method: 'POST', url: `${BASE}/customers`, body: { customer: { name: 'Prop Co', external_customer_id: 'prop_route' } } })).body.data;
const contact = (await t.request({ method: 'POST', url: `${BASE}/whatsapp/contacts`, body: { contact: { wa_id: '+1 555 073 0001', customer_id: customer.id } } })).body.data;
const projectHook = (await t.request({ method: 'POST', url: `${BASE}/whatsapp/webhooks`, body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/p', events: ['whatsapp.contact.created'] } } })).body.data;
const numberHook = (
  await t.request({
    method: 'POST',
    url: `${BASE}/whatsapp/phone_numbers/${number.phoneNumberId}/webhooks`,
    body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/n', secret_key: 'wh_sec', events: ['whatsapp.message.received'] } },
  })
).body.data;
const inbound = textBody(number.phoneNumberId, { ...freshUser(), text: 'hello' });
await deliver(t, inbound.body);
await drain(t.database.db);
const conversation = (await t.request({ method: 'GET', url: `${BASE}/whatsapp/conversations` })).body.data[0];
assert.ok(projectHook?.id && numberHook?.id && conversation?.id && contact?.id, 'seeded');

/** Real values per path parameter name, written as a client would. */
const known: Record<string, string[]> = {
  identifier: [contact.id, contact.wa_id, `+${contact.wa_id}`, inbound.wamid],
  customer_id: [customer.id, customer.id.toUpperCase()],
  phone_number_id: [number.phoneNumberId],
  webhook_id: [projectHook.id, numberHook.id],
  id: [conversation.id],
  wamid: [inbound.wamid],
};

const document = (await t.request({ method: 'GET', url: `${BASE}/openapi.json` })).body as {
  paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
};
/** Every query parameter and body property name the document mentions, as keys random requests use. */
const queryNames = new Set<string>(['limit', 'page', 'per_page', 'after', 'before', 'hub.mode', 'hub.verify_token', 'hub.challenge']);
const propertyNames = new Set<string>();
const wrapperNames = new Set<string>();
function collectProperties(schema: unknown, depth: number): void {
  if (schema === null || typeof schema !== 'object') return;
  const properties = (schema as { properties?: Record<string, unknown> }).properties;
  if (properties) {
    for (const [name, child] of Object.entries(properties)) {
      (depth === 0 ? wrapperNames : propertyNames).add(name);
      collectProperties(child, depth + 1);
    }
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'allOf'] as const) {
    const value = (schema as Record<string, unknown>)[key];
    for (const child of Array.isArray(value) ? value : [value]) collectProperties(child, depth);
  }
}
for (const operations of Object.values(document.paths)) {
  for (const operation of Object.values(operations)) {
    for (const parameter of operation.parameters ?? []) if (parameter.in === 'query') queryNames.add(parameter.name);
    for (const content of Object.values(operation.requestBody?.content ?? {})) collectProperties(content.schema, 0);
  }
}

const routes = registeredRoutes(t.app.printRoutes({ commonPrefix: false }));
assert.ok(routes.length >= 40, `found only ${routes.length} routes:\n${t.app.printRoutes({ commonPrefix: false })}`);

// ---- arbitraries -------------------------------------------------------------------------------

/** Percent-encodes every byte but the unreserved characters. */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

const nulString = fc.constantFrom('\u0000', 'a\u0000', '\u0000b', 'x\u0000y\u0000z', `${'n'.repeat(40)}\u0000`);
const oddString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: nulString },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'true', '-1', '1e309', '\ud800', '🙂', '../..', "O'Brien'; DROP TABLE contacts;--", 'x'.repeat(3000)) },
);
const leaf = fc.oneof(oddString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(customer.id), fc.constant(number.phoneNumberId));
const value = fc.oneof(
  { weight: 4, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(oddString, leaf, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
const propertyKey = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...propertyNames) }, { weight: 1, arbitrary: oddString });
const inner = fc.dictionary(propertyKey, value, { maxKeys: 6 });
const body = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...wrapperNames), inner).map(([wrapper, fields]) => JSON.stringify({ [wrapper]: fields })) },
  { weight: 1, arbitrary: fc.tuple(nulString, inner).map(([key, fields]) => JSON.stringify({ [key]: fields })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '{', '{"a":"\\u0000"}', '"\\u0000"', '{"\\u0000":1}') },
);
const queryString = fc
  .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...queryNames) }, { weight: 1, arbitrary: oddString }), fc.oneof(oddString, fc.constant(customer.id), fc.constant(number.phoneNumberId))), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&'));
const segment = (name: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(known[name] ?? ['x'])).map(encode) },
    { weight: 2, arbitrary: oddString.filter((s) => s !== '' && s !== '.' && s !== '..').map(encode) },
    { weight: 1, arbitrary: fc.constantFrom('%00', 'a%00b', '%2500', '%', '%zz', '%C0%AF') },
  );
/** Printable keys, and keys with a NUL (which a client library could send; the server must refuse it). */
const idempotencyKey = fc.option(fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), nulString), { nil: undefined, freq: 3 });
const contentType = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'application/merge-patch+json', 'text/plain', undefined);

/** The route's URL with each `:name` (and a `*`) replaced by a value of that name. */
function urlFor(route: Route, values: string[]): string {
  let i = 0;
  return route.url.replace(/:[A-Za-z_]+|\*/g, () => values[i++] ?? 'x');
}
function parameterNames(route: Route): string[] {
  return [...route.url.matchAll(/:([A-Za-z_]+)|\*/g)].map((m) => m[1] ?? '*');
}

// ---- the property ------------------------------------------------------------------------------

async function snapshot(): Promise<string> {
  const parts = TABLES.map((table) => sql`SELECT ${table}::text AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${sql.table(table)} x`);
  const { rows } = await sql<{ t: string; h: string }>`${sql.join(parts, sql` UNION ALL `)}`.execute(t.database.db);
  return JSON.stringify(rows);
}

/** Decoded, whether the request carries a NUL anywhere: path, query or body. */
function carriesNul(url: string, rawBody: string | undefined): boolean {
  let decoded = url;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    // malformed escapes: the router refuses these
  }
  let parsedBody = '';
  try {
    parsedBody = rawBody === undefined ? '' : JSON.stringify(JSON.parse(rawBody));
  } catch {
    parsedBody = '';
  }
  return decoded.includes('\u0000') || parsedBody.includes('\\u0000');
}

/** Whether the request reached a route (not the "No route for …" answer). */
async function probe(method: string, url: string, rawBody: string | undefined, type: string | undefined, idempotencyKey: string | undefined): Promise<boolean> {
  const before = await snapshot();
  const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const response = await t.request({ method: method as 'GET', url, rawBody, headers });
  const where = `${method} ${url.slice(0, 300)} ${rawBody?.slice(0, 200) ?? ''} → ${response.status} ${response.text.slice(0, 300)}`;
  assert.ok(response.status < 500, `5xx: ${where}`);
  if (url.startsWith(BASE) && response.status < 300) assert.ok(!carriesNul(url, rawBody) && !idempotencyKey?.includes('\u0000'), `a NUL character was accepted: ${where}`);
  if (response.status >= 400) {
    const error = response.body as Record<string, unknown>;
    assert.ok(error !== null && typeof error === 'object' && !Array.isArray(error), `4xx body is not an object: ${where}`);
    if (url.startsWith('/meta/whatsapp/') && error.error !== null && typeof error.error === 'object') {
      // The proxy's surface answers Meta's shape: {"error":{message,type,code,…}}.
      const meta = error.error as Record<string, unknown>;
      assert.ok(typeof meta.message === 'string' && meta.message.length > 0 && typeof meta.code === 'number', `Meta-shaped error without message or code: ${where}`);
    } else if (!(response.status === 400 && error.message === 'legacy_offset_pagination_limit_exceeded')) {
      assert.deepEqual(Object.keys(error), ['error'], `4xx body is not {error}: ${where}`);
      assert.ok(typeof error.error === 'string' && error.error.length > 0, `error is not a sentence: ${where}`);
    }
    assert.equal(await snapshot(), before, `a ${response.status} changed stored rows: ${where}`);
  }
  return !(response.status === 404 && String((response.body as { error?: unknown })?.error).startsWith('No route for'));
}

const replay = process.env.PARLEY_PROPERTY_SEED === undefined ? {} : { seed: Number(process.env.PARLEY_PROPERTY_SEED), path: process.env.PARLEY_PROPERTY_PATH };

for (const route of routes) {
  test(`${route.method} ${route.url} with random and NUL-laden parameters, queries and bodies`, async () => {
    const params = fc.tuple(...parameterNames(route).map(segment));
    const withBody = route.method === 'POST' || route.method === 'PATCH' || route.method === 'PUT';
    let reached = 0;
    await fc.assert(
      fc.asyncProperty(params, queryString, fc.option(body, { nil: undefined, freq: 5 }), contentType, idempotencyKey, async (values, query, raw, type, key) => {
        const url = `${urlFor(route, values)}${query ? `?${query}` : ''}`;
        if (await probe(route.method, url, withBody ? raw : undefined, withBody && raw !== undefined ? type : undefined, route.method === 'POST' ? key : undefined)) reached += 1;
      }),
      { numRuns: RUNS, includeErrorInReport: true, ...replay },
    );
    assert.ok(reached > 0, 'no request reached the route');
  });
}

test('the routes are read from Fastify: every registered route above, none forgotten', () => {
  const names = new Set(routes.map((r) => `${r.method} ${r.url}`));
  for (const expected of [`POST ${BASE}/whatsapp/webhooks`, `PATCH ${BASE}/whatsapp/conversations/:id`, `GET ${BASE}/webhook_deliveries`, 'POST /webhooks/meta', 'GET /readyz']) {
    assert.ok(names.has(expected), `${expected} is missing from ${[...names].join(', ')}`);
  }
});
