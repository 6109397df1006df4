// Kapso's published OpenAPI document as a test oracle: "is this body what Kapso documents as the
// response of operation X with status S?" The document is read from the shared reference copy,
// never from the project, so that Parley cannot grade its own homework.
//
// Reading of the document:
// - `$ref`s to #/components/schemas are resolved by ajv (each component is added under its own
//   URI); `$ref`s to #/components/responses are resolved here.
// - The document is OpenAPI 3.1 but uses the 3.0 keyword `nullable: true` in places; it means
//   "null is allowed too", so it is translated into a type union (or an anyOf with null).
// - One documented Parley deviation (PARLEY_DEVIATIONS): `WhatsappContact.profile_name` may be
//   null (contract §2.1). Nothing else is relaxed.
// - Annotation keywords OpenAPI adds (`example`, `x-*`, ...) are declared to ajv as vocabulary so
//   that ajv stays strict: an unknown format (or any other unknown keyword) is a compile error.
//
// The document is not ours to ship, so a clone without ../shared has none. Tests that need it are
// then skipped with a one-line reason (kapsoSkip, kapsoTest, kapsoChecksAlongside), never counted as
// passed; PARLEY_REQUIRE_SHARED=1 (set by .ci/run) makes its absence a failure instead.
//
// The same reading serves Kapso's other document, the proxy's (kapso-proxy-oracle.ts): KapsoOracle
// takes the document and its deviations, oracleAccess gives the skip rule and loader for a path.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/** PARLEY_KAPSO_OPENAPI names another copy (the tests of the skipping itself point it at nothing). */
export const KAPSO_OPENAPI_PATH = process.env.PARLEY_KAPSO_OPENAPI ?? path.resolve(import.meta.dirname, '../../../shared/reference/kapso/openapi-platform.yaml');

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

const SCHEMA_BASE = 'https://kapso-oracle.parley.test/components/schemas/';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** OpenAPI annotation keywords that JSON Schema 2020-12 does not know. */
const OPENAPI_KEYWORDS = ['example', 'discriminator', 'xml', 'externalDocs'];

/** Where Parley knowingly differs from Kapso: schema component, property, what is allowed in addition. */
export const PARLEY_DEVIATIONS: readonly Deviation[] = [{ schema: 'WhatsappContact', property: 'profile_name', alsoAllow: 'null' }];

/** A property of a schema component that Parley knowingly lets be null as well. */
export interface Deviation {
  schema: string;
  property: string;
  alsoAllow: 'null';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface Operation {
  operationId: string;
  method: string;
  path: string;
  responses: JsonObject;
}

export interface HeaderSpec {
  name: string;
  schema: JsonObject;
}

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === 'object' && !Array.isArray(value);

/** `nullable: true` → null allowed; `#/components/schemas/X` → the URI ajv knows X by. */
export function translateSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(translateSchema);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string') {
      const match = /^#\/components\/schemas\/([^/]+)(\/.*)?$/.exec(value);
      if (!match) throw new Error(`kapso-oracle: unsupported $ref ${value} inside a schema`);
      out.$ref = `${SCHEMA_BASE}${match[1]}${match[2] ? `#${match[2]}` : ''}`;
      continue;
    }
    // Property names, examples and enums are data, not schemas.
    if (key === 'example' || key === 'examples' || key === 'enum' || key === 'const' || key === 'default') out[key] = value;
    else if (key === 'properties' && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, translateSchema(v)]));
    else out[key] = translateSchema(value);
  }
  if (node.nullable === true) return allowNull(out);
  return out;
}

function allowNull(schema: JsonObject): JsonObject {
  const out = { ...schema };
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (typeof out.type === 'string') out.type = [out.type, 'null'];
  else if (Array.isArray(out.type)) out.type = out.type.includes('null') ? out.type : [...out.type, 'null'];
  else return { anyOf: [out, { type: 'null' }] };
  return out;
}

export class KapsoOracle {
  readonly document: JsonObject;
  private readonly ajv: Ajv2020;
  private readonly operations = new Map<string, Operation>();
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Where the document came from (for messages). */
  readonly source: string;
  private readonly deviations: readonly Deviation[];

  constructor(document: JsonObject, options: { source?: string; deviations?: readonly Deviation[] } = {}) {
    this.document = document;
    this.source = options.source ?? KAPSO_OPENAPI_PATH;
    this.deviations = options.deviations ?? PARLEY_DEVIATIONS;
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addVocabulary(OPENAPI_KEYWORDS);
    this.ajv.removeKeyword('examples');
    this.ajv.addKeyword({ keyword: 'examples' }); // OpenAPI examples may be a map, not the 2020-12 array
    const schemas = this.components('schemas');
    for (const [name, schema] of Object.entries(schemas)) {
      let translated = translateSchema(schema) as JsonObject;
      for (const deviation of this.deviations.filter((d) => d.schema === name)) translated = applyDeviation(translated, deviation);
      this.ajv.addSchema(translated, `${SCHEMA_BASE}${name}`);
    }
    for (const deviation of this.deviations) {
      if (!(deviation.schema in schemas)) throw new Error(`kapso-oracle: deviation names unknown schema ${deviation.schema}`);
    }
    const paths = document.paths;
    if (!isObject(paths)) throw new Error('kapso-oracle: the document has no paths');
    for (const [route, item] of Object.entries(paths)) {
      if (!isObject(item)) continue;
      for (const method of METHODS) {
        const op = item[method];
        if (!isObject(op) || typeof op.operationId !== 'string') continue;
        this.operations.set(op.operationId, { operationId: op.operationId, method: method.toUpperCase(), path: route, responses: isObject(op.responses) ? op.responses : {} });
      }
    }
  }

  private components(kind: string): JsonObject {
    const components = this.document.components;
    const section = isObject(components) ? components[kind] : undefined;
    if (!isObject(section)) throw new Error(`kapso-oracle: the document has no components.${kind}`);
    return section;
  }

  operation(operationId: string): Operation {
    const op = this.operations.get(operationId);
    if (!op) throw new Error(`kapso-oracle: no operation ${operationId} in ${this.source}`);
    return op;
  }

  /** The statuses the operation documents, e.g. ["200", "401"]. */
  statuses(operationId: string): string[] {
    return Object.keys(this.operation(operationId).responses);
  }

  documents(operationId: string, status: number): boolean {
    return String(status) in this.operation(operationId).responses;
  }

  /** The response object of an operation and status, with a `$ref` to components/responses resolved. */
  private response(operationId: string, status: number): JsonObject {
    let response = this.operation(operationId).responses[String(status)];
    if (response === undefined) throw new Error(`kapso-oracle: ${operationId} documents no ${status} response (it documents ${this.statuses(operationId).join(', ')})`);
    for (let hops = 0; isObject(response) && typeof response.$ref === 'string'; hops++) {
      const match = /^#\/components\/responses\/([^/]+)$/.exec(response.$ref);
      if (!match || hops > 5) throw new Error(`kapso-oracle: unsupported response $ref ${String(response.$ref)}`);
      response = this.components('responses')[match[1]!];
    }
    if (!isObject(response)) throw new Error(`kapso-oracle: ${operationId} ${status} is not a response object`);
    return response;
  }

  /** Whether the documented response has a body (204s do not). */
  hasBody(operationId: string, status: number): boolean {
    return isObject(this.response(operationId, status).content);
  }

  /** Validator of the JSON body Kapso documents for this operation and status. */
  responseValidator(operationId: string, status: number): ValidateFunction {
    const cacheKey = `${operationId} ${status}`;
    const cached = this.compiled.get(cacheKey);
    if (cached) return cached;
    const content = this.response(operationId, status).content;
    const media = isObject(content) ? content['application/json'] : undefined;
    if (!isObject(media) || !isObject(media.schema)) throw new Error(`kapso-oracle: ${operationId} ${status} has no application/json schema`);
    const validate = this.ajv.compile(translateSchema(media.schema) as JsonObject);
    this.compiled.set(cacheKey, validate);
    return validate;
  }

  /** Validator of a schema component, e.g. "ErrorResponse". */
  componentValidator(name: string): ValidateFunction {
    const validate = this.ajv.getSchema(`${SCHEMA_BASE}${name}`);
    if (!validate) throw new Error(`kapso-oracle: no schema component ${name}`);
    return validate;
  }

  /** The property names a schema component declares (its documented fields). */
  componentProperties(name: string): string[] {
    const schema = this.components('schemas')[name];
    if (!isObject(schema) || !isObject(schema.properties)) throw new Error(`kapso-oracle: schema ${name} declares no properties`);
    return Object.keys(schema.properties);
  }

  /** The headers Kapso documents for this operation and status. */
  responseHeaders(operationId: string, status: number): HeaderSpec[] {
    const headers = this.response(operationId, status).headers;
    if (!isObject(headers)) return [];
    return Object.entries(headers).map(([name, spec]) => ({ name, schema: isObject(spec) && isObject(spec.schema) ? spec.schema : {} }));
  }

  /** Errors of `body` against the documented response; empty when it conforms. */
  check(operationId: string, status: number, body: unknown): ErrorObject[] {
    const validate = this.responseValidator(operationId, status);
    return validate(body) ? [] : [...(validate.errors ?? [])];
  }

  /** Asserts that `body` is what Kapso documents for this operation and status. */
  assertResponse(operationId: string, status: number, body: unknown): void {
    const errors = this.check(operationId, status, body);
    assert.equal(errors.length, 0, `${operationId} ${status} does not conform to Kapso: ${this.ajv.errorsText(errors)}\nbody: ${JSON.stringify(body)?.slice(0, 2000)}`);
  }

  /** Asserts that `body` conforms to a schema component. */
  assertComponent(name: string, body: unknown): void {
    const validate = this.componentValidator(name);
    assert.ok(validate(body), `body does not conform to Kapso's ${name}: ${this.ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body)?.slice(0, 2000)}`);
  }

  /**
   * An error answer: checked against the operation's documented response for that status, or
   * (where Kapso documents none, e.g. 401 on most contact routes) against ErrorResponse, the
   * shape every Kapso error has. Returns which of the two was used.
   */
  assertError(operationId: string, status: number, body: unknown): 'documented' | 'ErrorResponse' {
    if (this.documents(operationId, status)) {
      this.assertResponse(operationId, status, body);
      return 'documented';
    }
    this.assertComponent('ErrorResponse', body);
    return 'ErrorResponse';
  }

  /** Asserts each documented header is present with a value of its schema type. */
  assertHeaders(operationId: string, status: number, headers: Record<string, unknown>): void {
    const specs = this.responseHeaders(operationId, status);
    assert.ok(specs.length > 0, `${operationId} ${status} documents no headers`);
    for (const { name, schema } of specs) {
      const value = headers[name.toLowerCase()];
      assert.equal(typeof value, 'string', `header ${name} is missing`);
      if (schema.type === 'integer') assert.match(value as string, /^\d+$/, `header ${name} must be an integer, got ${String(value)}`);
      else if (schema.type === 'string') assert.ok((value as string).length > 0, `header ${name} is empty`);
    }
  }
}

function applyDeviation(schema: JsonObject, deviation: Deviation): JsonObject {
  const properties = schema.properties;
  if (!isObject(properties) || !isObject(properties[deviation.property])) {
    throw new Error(`kapso-oracle: deviation names unknown property ${deviation.schema}.${deviation.property}`);
  }
  return { ...schema, properties: { ...properties, [deviation.property]: allowNull(properties[deviation.property] as JsonObject) } };
}

const REQUIRE_VARIABLE = 'PARLEY_REQUIRE_SHARED';

/** One of Kapso's documents as an oracle: where it is, what it is called, and how Parley deviates. */
export interface OracleDocument {
  path: string;
  /** "Kapso's OpenAPI document" */
  title: string;
  /** Where it is expected, in words, when it is absent. */
  expected: string;
  /** The variable that names another copy, if any. */
  overrideVariable: string;
  deviations: readonly Deviation[];
}

/** The skip rule, the test wrappers and the loader for one document. */
export interface OracleAccess {
  skip(): false | string;
  test(name: string, fn: () => void | Promise<void>): Promise<void>;
  checksAlongside(what: string): KapsoChecks;
  oracle(): KapsoOracle;
}

export function oracleAccess(source: OracleDocument): OracleAccess {
  let loaded: KapsoOracle | undefined;

  /**
   * `false` when the tests that need the document can run; otherwise the one-line reason to skip
   * them (node:test's `skip` option). With PARLEY_REQUIRE_SHARED=1 it is always `false`, so a missing
   * document fails those tests rather than skipping them.
   */
  const skip = (): false | string => {
    if (process.env[REQUIRE_VARIABLE] === '1' || existsSync(source.path)) return false;
    const where = process.env[source.overrideVariable] ?? source.expected;
    return `${source.title} is absent (${where}); ${REQUIRE_VARIABLE}=1 makes this a failure`;
  };

  /** The oracle, loaded once per process. Throws (failing the test) when the document is missing. */
  const oracle = (): KapsoOracle => {
    if (loaded) return loaded;
    if (!existsSync(source.path)) {
      throw new Error(`${source.title} is missing: expected it at ${source.path} (${source.expected.replace(' beside ', ' next to ')}). The conformance tests cannot run without it.`);
    }
    const document = parse(readFileSync(source.path, 'utf8')) as unknown;
    if (!isObject(document) || typeof document.openapi !== 'string') throw new Error(`${source.path} is not an OpenAPI document`);
    loaded = new KapsoOracle(document, { source: source.path, deviations: source.deviations });
    return loaded;
  };

  return {
    skip,
    oracle,
    /** A test that is all about the document: skipped, with the reason, when the document is absent. */
    test: (name, fn) => test(name, { skip: skip() }, fn),
    /**
     * For a file whose tests check behaviour and, on the way, that each answer is what Kapso documents.
     * With the document present the checks run inline (the oracle's own assertions). Without it the
     * behaviour is still tested, the Kapso checks are left out, and one test named after `what` is
     * registered as skipped, so the summary says what was not checked rather than counting it as passed.
     */
    checksAlongside: (what) => {
      const reason = skip();
      if (reason) {
        test(`${what} are what ${source.title.replace(/ OpenAPI document$/, ' document')} describes`, { skip: reason }, () => undefined);
        return { assertResponse: () => undefined, assertComponent: () => undefined };
      }
      return {
        assertResponse: (operationId, status, body) => oracle().assertResponse(operationId, status, body),
        assertComponent: (name, body) => oracle().assertComponent(name, body),
      };
    },
  };
}

/** The checks that tests of behaviour make along the way (see kapsoChecksAlongside). */
export type KapsoChecks = Pick<KapsoOracle, 'assertResponse' | 'assertComponent'>;

const platform = oracleAccess({
  path: KAPSO_OPENAPI_PATH,
  title: "Kapso's OpenAPI document",
  expected: '../shared/reference/kapso/openapi-platform.yaml beside the repository',
  overrideVariable: 'PARLEY_KAPSO_OPENAPI',
  deviations: PARLEY_DEVIATIONS,
});

/** Whether the Platform document's tests can run (false), or why they are skipped. */
export const kapsoSkip = platform.skip;
/** A test that is all about the Platform document. */
export const kapsoTest = platform.test;
/** The Platform document's checks, made along the way by a file that tests behaviour. */
export const kapsoChecksAlongside = platform.checksAlongside;
/** The Platform document's oracle, loaded once per process. */
export const kapsoOracle = platform.oracle;
