// Property tests of every contacts endpoint with random bodies, identifiers, query strings and
// headers: never a 5xx; every 4xx is `{"error": string}` (the legacy pagination 400 of contract
// §2.4 excepted) and leaves the stored contacts exactly as they were; every 2xx conforms to
// Kapso's schema for the operation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { type RequestOptions, startTestApp, type TestApp } from '../helpers/app.ts';
import { kapsoChecksAlongside } from '../helpers/kapso-oracle.ts';

const CONTACTS = '/platform/v1/whatsapp/contacts';
const RUNS = Number(process.env.PARLEY_PROPERTY_RUNS ?? 200);
const LEGACY_KEYS = ['cursor_example', 'detail', 'max_page', 'max_window', 'message', 'requested_page', 'requested_per_page', 'requested_window'];

/** Kapso's schemas checked along the way; left out (and reported as skipped) without the document. */
const kapso = kapsoChecksAlongside('Answers to random contact requests');

let t: TestApp;
let customerId: string;
/** Identifiers of seeded contacts in several written forms, so that random requests also hit real rows. */
const known: string[] = [];
const etags: string[] = [];

before(async () => {
  t = await startTestApp();
  const customer = await t.request({ method: 'POST', url: '/platform/v1/customers', body: { customer: { name: 'Prop Co', external_customer_id: 'prop_1' } } });
  assert.equal(customer.status, 201, customer.text);
  customerId = customer.body.data.id;
  const seeds = [
    { wa_id: '+1 555-070-0001', profile_name: 'Ada', metadata: { a: { b: [1, 2] }, s: 'x' }, customer_id: customerId },
    { wa_id: '5511987650001', display_name: 'BR' },
    { wa_id: '442079460001', profile_name: 'Zoë', metadata: {} },
  ];
  for (const contact of seeds) {
    const response = await t.request({ method: 'POST', url: CONTACTS, body: { contact } });
    assert.equal(response.status, 201, response.text);
    const { id, wa_id } = response.body.data;
    known.push(id, id.toUpperCase(), wa_id, `+${wa_id}`, `%2B${wa_id}`);
    etags.push(String(response.headers.etag));
  }
  const project = await t.database.db.selectFrom('projects').select('id').where('name', '=', 'alpha').executeTakeFirstOrThrow();
  await sql`INSERT INTO contacts (project_id, wa_id, business_scoped_user_id, parent_business_scoped_user_id, username)
            VALUES (${project.id}, NULL, 'US.13491208655302741918', 'US.ENT.506847293015824', '@prop')`.execute(t.database.db);
  known.push('US.13491208655302741918', 'US.ENT.506847293015824', '551187650001');
});
after(async () => t?.close());

/** Every stored contact of every project, in a stable order. */
async function snapshot(): Promise<string> {
  const { rows } = await sql`SELECT * FROM contacts ORDER BY id`.execute(t.database.db);
  return JSON.stringify(rows);
}

/** Sends the request and checks the three properties; `operationId` names Kapso's operation. */
async function probe(options: RequestOptions, operationId: string): Promise<void> {
  const before = await snapshot();
  const response = await t.request(options);
  const where = `${options.method} ${options.url.slice(0, 300)} (${response.status}) ${response.text.slice(0, 300)}`;
  assert.ok(response.status < 500, `5xx: ${where}`);
  if (response.status >= 400) {
    assert.match(String(response.headers['content-type']), /^application\/json/, `4xx without JSON: ${where}`);
    const body = response.body as Record<string, unknown>;
    if (response.status === 400 && operationId === 'listWhatsappContactsPlatform' && body?.message !== undefined) {
      assert.deepEqual(Object.keys(body).sort(), LEGACY_KEYS, where);
      kapso.assertResponse(operationId, 400, body);
    } else {
      assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), `4xx body is not an object: ${where}`);
      assert.deepEqual(Object.keys(body), ['error'], `4xx body is not {error}: ${where}`);
      assert.ok(typeof body.error === 'string' && body.error.length > 0, `error is not a sentence: ${where}`);
      assert.doesNotMatch(body.error, /\bat .+\.[jt]s:\d+|node_modules/, `stack trace: ${where}`);
    }
    assert.equal(await snapshot(), before, `a ${response.status} changed stored contacts: ${where}`);
  } else if (response.status === 204) {
    assert.equal(response.text, '', where);
  } else {
    kapso.assertResponse(operationId, response.status, response.body);
  }
}

// ---- arbitraries -------------------------------------------------------------------------------

/** Percent-encodes every byte but the unreserved characters (lone surrogates go out as U+FFFD). */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

const char16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const oddString = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: char16, maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.uuid(),
  fc.constantFrom(
    ...['', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '🙂', 'null', 'true', '0', '-1', '1e309', 'NaN', '15551234567', '+1 555-123-4567'],
    ...['%2B15551234567', '%', '%zz', '../..', '<script>', "O'Brien'; DROP TABLE contacts;--", 'US.13491208655302741918', 'US.ENT.1', 'ñ'.repeat(300), 'x'.repeat(5000)],
  ),
);
const timestamp = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2025-03-26T15:05:00.000000Z',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999Z',
    '2025-02-30T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2024-02-29T24:00:00Z',
    '2016-12-31T23:59:60Z',
    '2025-03-26T15:05:00.1234567Z',
    '2025-03-26T15:05:00+14:00',
    '2025-03-26',
  ),
);
const cursor = fc
  .record({ values: fc.oneof(fc.tuple(timestamp, fc.oneof(fc.uuid(), oddString)), fc.jsonValue()), columns: fc.constant(['created_at', 'id']) })
  .map((c) => Buffer.from(JSON.stringify(c)).toString('base64'));
const queryValue = fc.oneof(
  oddString,
  fc.integer({ min: -5, max: 6000 }).map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.constantFrom('true', 'false', '1', '0', '1.5', '0x10', '1e3', ' 5', '5 ', '[]', '{}'),
  timestamp,
  cursor,
  fc.constant(null).map(() => customerId),
);
const queryKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('limit', 'page', 'per_page', 'after', 'before', 'customer_id', 'customer_external_id', 'has_customer') },
  { weight: 4, arbitrary: fc.constantFrom('profile_name_contains', 'wa_id_contains', 'business_scoped_user_id', 'created_after', 'created_before') },
  { weight: 1, arbitrary: oddString },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'limit[]', 'page[x]', 'a.b') },
);
const queryString = fc.array(fc.tuple(queryKey, queryValue, fc.boolean()), { maxLength: 6 }).map((pairs) =>
  pairs.map(([k, v, raw]) => (raw && /^[\w.:+-]*$/.test(v) ? `${encode(k)}=${v}` : `${encode(k)}=${encode(v)}`)).join('&'),
);

const rawSegments = ['%', '%zz', '%C0%AF', '%ED%A0%80', '%00', '..', '.', '%2F', 'a%2Fb', '%20', '+', '%2B', '%252B1555', '%E2%80%AE1555'];
const identifier = fc.oneof(
  { weight: 3, arbitrary: oddString.map(encode) },
  { weight: 2, arbitrary: fc.constantFrom(...rawSegments) },
  { weight: 3, arbitrary: fc.nat().map((i) => encode(known[i % known.length]!)) },
  { weight: 1, arbitrary: fc.integer({ min: 101, max: 20_000 }).map((n) => '1'.repeat(n)) },
  { weight: 1, arbitrary: fc.stringMatching(/^\+?[0-9 ().\-/]{1,30}$/).map(encode) },
);

const contactKey = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('wa_id', 'profile_name', 'display_name', 'customer_id', 'metadata') },
  { weight: 2, arbitrary: fc.constantFrom('id', 'business_scoped_user_id', 'parent_business_scoped_user_id', 'username', 'created_at', 'updated_at') },
  { weight: 1, arbitrary: oddString },
);
const leaf = fc.oneof(oddString, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.uuid(), fc.constant(null).map(() => customerId), fc.stringMatching(/^\+?[1-9][0-9 -]{6,16}$/));
const value = fc.oneof({ weight: 4, arbitrary: leaf }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) }, { weight: 1, arbitrary: fc.dictionary(oddString, leaf, { maxKeys: 5 }) });
const contactObject = fc.dictionary(contactKey, value, { maxKeys: 7 });

function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}
const deepMetadata = fc
  .tuple(fc.integer({ min: 2, max: 250_000 }), fc.constantFrom('array' as const, 'object' as const), fc.constantFrom('metadata', 'profile_name', 'junk'))
  .map(([depth, kind, key]) => `{"contact":{"wa_id":"+1 555 0${String(depth).padStart(6, '0').slice(-6)}","${key}":{"x":${deep(depth, kind)}}}}`);

const jsonBody = fc.oneof(
  { weight: 6, arbitrary: contactObject.map((contact) => JSON.stringify({ contact })) },
  { weight: 1, arbitrary: fc.tuple(contactObject, fc.dictionary(oddString, value, { maxKeys: 3 })).map(([contact, extra]) => JSON.stringify({ ...extra, contact })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.array(contactObject, { maxLength: 3 }).map((a) => JSON.stringify({ contact: a })) },
  { weight: 1, arbitrary: deepMetadata },
  { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 1_200_000 }).map((n) => JSON.stringify({ contact: { wa_id: '+15550700099', metadata: { big: 'é'.repeat(n / 2) } } })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '', 'null', '[]', '"contact"', '{"contact":', '{"contact":{"wa_id":"1","wa_id":2}}', '{"__proto__":{"contact":{}}}', '{"contact":{"constructor":{"prototype":{"x":1}}}}',
      '\ufeff{"contact":{"wa_id":"+15550700098"}}', '{"contact":{"metadata":{"n":1e400,"m":-0}}}', '{"contact":{"metadata":{"k\\u0000":1}}}', '{"contact":{"metadata":{"s":"\\ud800"}}}',
      '{"contact":{"profile_name":"\\ud83d"}}', '{"contact":{"wa_id":"+15550700097","metadata":{"\\ud800":"x"}}}', '{"contact":{"metadata":{"a":"\\u0000"}}}',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
);
const ifMatch = fc.option(fc.oneof(fc.constantFrom('*', 'W/"x"', '""'), fc.nat().map((i) => etags[i % etags.length] ?? '"x"'), oddString.filter((s) => !/[\r\n\u0000]/.test(s) && /^[\x20-\x7e]*$/.test(s))), { nil: undefined });
const headerSafe = (s: string) => /^[\x20-\x7e]*$/.test(s);

function withHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
}

/** PARLEY_PROPERTY_SEED (and PARLEY_PROPERTY_PATH) replay a failure fast-check reported. */
const replay = process.env.PARLEY_PROPERTY_SEED === undefined ? {} : { seed: Number(process.env.PARLEY_PROPERTY_SEED), path: process.env.PARLEY_PROPERTY_PATH };
const run = (property: fc.IAsyncProperty<any>, numRuns = RUNS) => fc.assert(property, { numRuns, includeErrorInReport: true, ...replay });

// ---- properties ----------------------------------------------------------------------------------

test('GET /whatsapp/contacts with random query strings', async () => {
  await run(fc.asyncProperty(queryString, (query) => probe({ method: 'GET', url: `${CONTACTS}${query ? `?${query}` : ''}` }, 'listWhatsappContactsPlatform')), RUNS + 100);
});

test('POST /whatsapp/contacts with random bodies', async () => {
  const contentType = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/merge-patch+json', undefined);
  const idempotencyKey = fc.option(oddString.filter(headerSafe), { nil: undefined });
  await run(
    fc.asyncProperty(jsonBody, contentType, idempotencyKey, (rawBody, type, key) =>
      probe({ method: 'POST', url: CONTACTS, rawBody, headers: withHeaders({ 'content-type': type, 'idempotency-key': key }) }, 'createWhatsappContactPlatform'),
    ),
  );
});

test('GET /whatsapp/contacts/{identifier} with random identifiers', async () => {
  // An empty segment (or ".", which the URL parser drops) leaves the list route: `/contacts/`.
  const operation = (id: string) => (id === '' || id === '.' ? 'listWhatsappContactsPlatform' : 'getWhatsappContactPlatform');
  await run(fc.asyncProperty(identifier, queryString, (id, query) => probe({ method: 'GET', url: `${CONTACTS}/${id}${query ? `?${query}` : ''}` }, operation(id))));
});

for (const contentType of ['application/json', 'application/merge-patch+json']) {
  test(`PATCH /whatsapp/contacts/{identifier} with random bodies as ${contentType}`, async () => {
    const type = fc.oneof({ weight: 8, arbitrary: fc.constant(contentType) }, { weight: 1, arbitrary: fc.constantFrom(`${contentType}; charset=utf-8`, contentType.toUpperCase(), 'text/plain', 'application/x-www-form-urlencoded') });
    await run(
      fc.asyncProperty(identifier, jsonBody, type, ifMatch, (id, rawBody, typeHeader, match) =>
        probe({ method: 'PATCH', url: `${CONTACTS}/${id}`, rawBody, headers: withHeaders({ 'content-type': typeHeader, 'if-match': match }) }, 'updateWhatsappContactPlatform'),
      ),
    );
  });
}

test('DELETE /whatsapp/contacts/{identifier} with random identifiers', async () => {
  // Seeded contacts are left alone here (a 204 would erase them for the other properties).
  const randomOnly = fc.oneof(oddString.map(encode), fc.constantFrom(...rawSegments), fc.stringMatching(/^\+?[0-9 ().\-/]{1,30}$/).map(encode));
  await run(fc.asyncProperty(randomOnly, ifMatch, (id, match) => probe({ method: 'DELETE', url: `${CONTACTS}/${id}`, headers: withHeaders({ 'if-match': match }) }, 'eraseWhatsappContact')));
});
