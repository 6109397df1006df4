// Kapso's proxy document (openapi-whatsapp.yaml, beside the platform one) as an oracle for the
// stand-in's answers: what Meta answers is what Kapso documents its proxy as passing through.
// Absent document: the checks are skipped with one registered skip, like kapsoChecksAlongside.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { KAPSO_OPENAPI_PATH, KapsoOracle } from '../helpers/kapso-oracle.ts';

export const WHATSAPP_OPENAPI_PATH = path.join(path.dirname(KAPSO_OPENAPI_PATH), 'openapi-whatsapp.yaml');

let loaded: KapsoOracle | undefined;

function oracle(): KapsoOracle {
  loaded ??= new KapsoOracle(parse(readFileSync(WHATSAPP_OPENAPI_PATH, 'utf8')));
  return loaded;
}

export interface WhatsappChecks {
  assertResponse(operationId: string, status: number, body: unknown): void;
}

export function whatsappChecksAlongside(what: string): WhatsappChecks {
  if (process.env.PARLEY_REQUIRE_SHARED !== '1' && !existsSync(WHATSAPP_OPENAPI_PATH)) {
    test(`${what} are what Kapso's proxy document describes`, { skip: `Kapso's proxy document is absent (${WHATSAPP_OPENAPI_PATH})` }, () => undefined);
    return { assertResponse: () => undefined };
  }
  return { assertResponse: (operationId, status, body) => oracle().assertResponse(operationId, status, body) };
}
