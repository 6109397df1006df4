// Kapso's published document of its Meta-compatible proxy (openapi-whatsapp.yaml) as a test
// oracle, read the same way as the Platform document (kapso-oracle.ts): from the shared reference
// copy beside the repository, skipped with a one-line reason when it is absent, a failure instead
// with PARLEY_REQUIRE_SHARED=1.
//
// Deviations, each a place where Kapso's own examples contradict its schema:
// - `WhatsappContact.profile_name` and `display_name` may be null (Kapso's list example has
//   `display_name: null`; Parley has no profile name until WhatsApp sends one).
import path from 'node:path';
import { type Deviation, oracleAccess } from './kapso-oracle.ts';

/** PARLEY_KAPSO_PROXY_OPENAPI names another copy. */
export const KAPSO_PROXY_OPENAPI_PATH =
  process.env.PARLEY_KAPSO_PROXY_OPENAPI ?? path.resolve(import.meta.dirname, '../../../shared/reference/kapso/openapi-whatsapp.yaml');

export const PROXY_DEVIATIONS: readonly Deviation[] = [
  { schema: 'WhatsappContact', property: 'profile_name', alsoAllow: 'null' },
  { schema: 'WhatsappContact', property: 'display_name', alsoAllow: 'null' },
];

const proxy = oracleAccess({
  path: KAPSO_PROXY_OPENAPI_PATH,
  title: "Kapso's proxy OpenAPI document",
  expected: '../shared/reference/kapso/openapi-whatsapp.yaml beside the repository',
  overrideVariable: 'PARLEY_KAPSO_PROXY_OPENAPI',
  deviations: PROXY_DEVIATIONS,
});

/** Whether the proxy document's tests can run (false), or why they are skipped. */
export const kapsoProxySkip = proxy.skip;
/** A test that is all about the proxy document. */
export const kapsoProxyTest = proxy.test;
/** The proxy document's checks (assertResponse, assertComponent), made along the way by a file that tests behaviour. */
export const kapsoProxyChecksAlongside = proxy.checksAlongside;
/** The proxy document's oracle, loaded once per process. */
export const kapsoProxyOracle = proxy.oracle;
