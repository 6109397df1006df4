// The OpenAPI document as a product: read from the running server and held to the rules a
// reader and a client generator depend on. The Kapso comparison needs Kapso's document beside
// the repository and is skipped, with its reason, when that is absent.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { KAPSO_OPENAPI_PATH, kapsoSkip } from '../helpers/kapso-oracle.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const V1 = '/platform/v1';

type Json = Record<string, any>;
interface Op {
  method: string;
  path: string;
  op: Json;
  /** "GET /platform/v1/whatsapp/contacts/{identifier}", for messages. */
  name: string;
}

let t: TestApp;
let doc: Json;
let ops: Op[];

before(async () => {
  t = await startTestApp();
  const response = await t.request({ method: 'GET', url: `${V1}/openapi.json`, key: null });
  assert.equal(response.status, 200);
  doc = response.body;
  ops = Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method], name: `${method.toUpperCase()} ${path}` })),
  );
});
after(async () => t.close());

const byId = (operationId: string): Op => {
  const found = ops.find((o) => o.op.operationId === operationId);
  assert.ok(found, `no operation ${operationId}`);
  return found;
};
const headerParams = (op: Json): string[] => (op.parameters ?? []).filter((p: Json) => p.in === 'header').map((p: Json) => String(p.name).toLowerCase());
const responseHeaders = (op: Json, status: string): string[] => Object.keys(op.responses[status]?.headers ?? {}).map((h) => h.toLowerCase());

describe('the OpenAPI document', () => {
  test('is a valid OpenAPI 3.1 document', async () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 4000));
  });

  test('is titled Parley and describes itself and its security schemes', () => {
    assert.match(doc.info.title, /Parley/);
    assert.ok(doc.info.description.length > 100);
    for (const [name, scheme] of Object.entries(doc.components.securitySchemes as Json)) assert.ok(scheme.description, `security scheme ${name}`);
  });

  test('documents the routes a user needs, and none of its own plumbing', () => {
    assert.ok(ops.length >= 38, `only ${ops.length} operations`);
    for (const path of ['/metrics', '/healthz', '/readyz', '/webhooks/meta', `${V1}/whatsapp/contacts`]) assert.ok(doc.paths[path], path);
    for (const path of ['/', '/docs', '/docs/', `${V1}/openapi.json`, '/docs/openapi.json', '/docs/js/scalar.js']) assert.equal(doc.paths[path], undefined, path);
  });

  test('every operation has a unique camelCase operationId, a summary and a description', () => {
    const seen = new Set<string>();
    for (const { op, name } of ops) {
      assert.match(op.operationId ?? '', /^[a-z][a-zA-Z0-9]+$/, `${name} operationId`);
      assert.ok(!seen.has(op.operationId), `${op.operationId} is used twice`);
      seen.add(op.operationId);
      assert.ok(typeof op.summary === 'string' && op.summary.length >= 5, `${name} summary`);
      assert.ok(typeof op.description === 'string' && op.description.length >= 20, `${name} description`);
      assert.notEqual(op.description, op.summary, `${name}: the description only repeats the summary`);
    }
  });

  test('every response is described, and no "Default Response" is left anywhere', () => {
    assert.ok(!JSON.stringify(doc).includes('Default Response'));
    for (const { op, name } of ops) {
      const statuses = Object.keys(op.responses);
      assert.ok(statuses.some((s) => /^2\d\d$/.test(s)), `${name} documents no success response`);
      for (const status of statuses) {
        const description = op.responses[status].description;
        assert.ok(typeof description === 'string' && description.length >= 5, `${name} ${status} description`);
      }
    }
  });

  test('every path, query and header parameter is described', () => {
    for (const { op, path, name } of ops) {
      for (const parameter of op.parameters ?? []) {
        assert.ok(typeof parameter.description === 'string' && parameter.description.length >= 5, `${name}: ${parameter.in} parameter ${parameter.name}`);
      }
      for (const [, placeholder] of path.matchAll(/\{([^}]+)\}/g)) {
        assert.ok((op.parameters ?? []).some((p: Json) => p.in === 'path' && p.name === placeholder), `${name}: path parameter ${placeholder} is not declared`);
      }
    }
  });

  test('tags are declared with descriptions, in reading order, and every operation has one', () => {
    const declared = (doc.tags as Json[]).map((tag) => tag.name);
    assert.deepEqual(declared, ['Customers', 'Phone Numbers', 'Contacts', 'Conversations', 'Messages', 'Media', 'Webhooks', 'Webhook Deliveries', 'API Logs', 'Meta webhooks', 'Server']);
    for (const tag of doc.tags as Json[]) assert.ok(typeof tag.description === 'string' && tag.description.length >= 20, `tag ${tag.name}`);
    const used = new Set<string>();
    for (const { op, name } of ops) {
      assert.equal(op.tags?.length, 1, `${name} tags`);
      assert.ok(declared.includes(op.tags[0]), `${name}: tag ${op.tags[0]} is not declared`);
      used.add(op.tags[0]);
    }
    assert.deepEqual([...used].sort(), [...declared].sort(), 'a declared tag has no operation');
  });

  test('conditional-request and idempotency headers are documented exactly where the server honours them', () => {
    const expected: Record<string, { request: string[]; responses: Record<string, string[]> }> = {
      createWhatsappContactPlatform: { request: ['idempotency-key'], responses: { '201': ['etag', 'idempotent-replayed'] } },
      getWhatsappContactPlatform: { request: ['if-none-match'], responses: { '200': ['etag'], '304': ['etag'] } },
      updateWhatsappContactPlatform: { request: ['if-match'], responses: { '200': ['etag'], '412': [] } },
      eraseWhatsappContact: { request: ['if-match'], responses: { '204': [], '412': [] } },
    };
    for (const [operationId, want] of Object.entries(expected)) {
      const { op } = byId(operationId);
      assert.deepEqual(headerParams(op).filter((h) => ['if-match', 'if-none-match', 'idempotency-key'].includes(h)), want.request, `${operationId} request headers`);
      for (const [status, headers] of Object.entries(want.responses)) {
        assert.ok(op.responses[status], `${operationId} documents no ${status}`);
        assert.deepEqual(responseHeaders(op, status), headers, `${operationId} ${status} headers`);
      }
    }
    // Nowhere else: another route does not honour them, so a client must not be told it does.
    for (const { op, name } of ops) {
      if (op.operationId in expected) continue;
      for (const header of ['if-match', 'if-none-match', 'idempotency-key']) assert.ok(!headerParams(op).includes(header), `${name} documents ${header}`);
      for (const status of Object.keys(op.responses)) assert.ok(!responseHeaders(op, status).includes('etag'), `${name} ${status} documents ETag`);
    }
  });

  test('the documented headers are what the server sends', async () => {
    const created = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, body: { contact: { wa_id: '+1 415 555 0188' } }, headers: { 'idempotency-key': 'openapi-doc-1' } });
    assert.equal(created.status, 201);
    const etag = created.headers.etag as string;
    assert.ok(etag);
    const replay = await t.request({ method: 'POST', url: `${V1}/whatsapp/contacts`, body: { contact: { wa_id: '+1 415 555 0188' } }, headers: { 'idempotency-key': 'openapi-doc-1' } });
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    const unchanged = await t.request({ method: 'GET', url: `${V1}/whatsapp/contacts/${created.body.data.id}`, headers: { 'if-none-match': etag } });
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.headers.etag, etag);
    const stale = await t.request({ method: 'PATCH', url: `${V1}/whatsapp/contacts/${created.body.data.id}`, body: { contact: { display_name: 'x' } }, headers: { 'if-match': '"stale"' } });
    assert.equal(stale.status, 412);
  });

  test('the main request and response bodies carry examples', () => {
    const hasExample = (media: Json) => media.example !== undefined || (media.examples && Object.keys(media.examples).length > 0);
    for (const { op, name } of ops) {
      for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Json)) assert.ok(hasExample(media), `${name} request body (${type}) has no example`);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        if (!/^2\d\d$/.test(status)) continue;
        for (const [type, media] of Object.entries((response.content ?? {}) as Json)) assert.ok(hasExample(media), `${name} ${status} (${type}) has no example`);
      }
    }
  });

  test('every example is valid against the schema it illustrates', () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    let checked = 0;
    const check = (where: string, media: Json) => {
      const examples = media.example !== undefined ? [media.example] : Object.values((media.examples ?? {}) as Json).map((e) => e.value);
      for (const example of examples) {
        const validate = ajv.compile(media.schema);
        assert.ok(validate(example), `${where}: the example does not match its schema: ${ajv.errorsText(validate.errors)}`);
        checked++;
      }
    };
    for (const { op, name } of ops) {
      for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Json)) check(`${name} request (${type})`, media);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        for (const [type, media] of Object.entries((response.content ?? {}) as Json)) check(`${name} ${status} (${type})`, media);
      }
      for (const parameter of op.parameters ?? []) if (parameter.example !== undefined) check(`${name} parameter ${parameter.name}`, parameter);
    }
    assert.ok(checked >= 50, `only ${checked} examples`);
  });
});

describe('the operation ids of Kapso', () => {
  test(
    'every operation Kapso has carries Kapso’s operationId; the others carry none of Kapso’s ids',
    { skip: kapsoSkip() },
    () => {
      const kapso = parse(readFileSync(KAPSO_OPENAPI_PATH, 'utf8')) as Json;
      const shape = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`;
      const kapsoIds = new Map<string, string>();
      for (const [path, item] of Object.entries(kapso.paths as Json)) {
        for (const method of METHODS) if (item[method]?.operationId) kapsoIds.set(shape(method, path), item[method].operationId);
      }
      const allKapsoIds = new Set(kapsoIds.values());
      let matched = 0;
      for (const { method, path, op, name } of ops) {
        const kapsoPath = path.startsWith(V1) ? path.slice(V1.length) : null;
        const id = kapsoPath === null ? undefined : kapsoIds.get(shape(method, kapsoPath));
        if (id !== undefined) {
          assert.equal(op.operationId, id, `${name} must carry Kapso's operationId`);
          matched++;
        } else {
          assert.ok(!allKapsoIds.has(op.operationId), `${name} is not Kapso's ${op.operationId}`);
        }
      }
      assert.ok(matched >= 34, `only ${matched} operations matched Kapso's`);
    },
  );
});
