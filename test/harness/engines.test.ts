// The Node.js minimum in package.json is honest: every package the lockfile installs (development
// ones too, `npm install` warns for those as well) accepts it, so an install on that Node prints
// no EBADENGINE warning. A dependency's newest version wants Node 22; package.json's
// `overrides` pin one that supports Node 20, and the code path that uses it is run here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';

const root = path.resolve(import.meta.dirname, '../..');
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, '').split('.').map(Number);
  return [major, minor, patch];
}

const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/**
 * Whether `version` satisfies an engines range of the forms lockfiles hold: alternatives joined by
 * `||`, each one or more comparators (`>=20.19`, `<23`, `^18.17.0`, `~20.1`, a bare `20` or `20.x`).
 */
export function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) =>
    alternative
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .every((comparator) => {
        if (comparator === '*' || comparator === 'x') return true;
        const match = /^(>=|<=|>|<|\^|~|=)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(comparator);
        if (!match) throw new Error(`engines range not understood: "${range}"`);
        const [, op = '=', major, minor, patch] = match;
        const wild = (part: string | undefined) => part === undefined || part === 'x' || part === '*';
        const base: Version = [Number(major), wild(minor) ? 0 : Number(minor), wild(patch) ? 0 : Number(patch)];
        const c = compare(version, base);
        if (op === '>=') return c >= 0;
        if (op === '>') return c > 0;
        if (op === '<=') return c <= 0;
        if (op === '<') return c < 0;
        if (op === '^') return c >= 0 && version[0] === base[0];
        if (op === '~' || wild(minor) || wild(patch)) {
          if (wild(minor)) return version[0] === base[0] && (op !== '~' || c >= 0);
          return version[0] === base[0] && version[1] === base[1] && c >= 0;
        }
        return c === 0;
      }),
  );
}

test('the engines range reader', () => {
  assert.equal(satisfies([20, 19, 0], '>=20.19'), true);
  assert.equal(satisfies([20, 18, 9], '>=20.19'), false);
  assert.equal(satisfies([20, 19, 0], '>=22'), false);
  assert.equal(satisfies([20, 19, 0], '18 || 20 || >=22'), true);
  assert.equal(satisfies([21, 0, 0], '18 || 20 || >=22'), false);
  assert.equal(satisfies([20, 19, 0], '^18.17.0 || >=20.5.0'), true);
  assert.equal(satisfies([20, 19, 0], '>=16 <20'), false);
  assert.equal(satisfies([20, 19, 0], '20.x'), true);
  assert.equal(satisfies([20, 19, 0], '>= 0.4'), true);
  assert.equal(satisfies([20, 19, 0], '*'), true);
});

test('every package in the lockfile accepts the minimum Node.js of package.json', () => {
  const declared = readJson('package.json').engines.node as string;
  const minimum = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(declared);
  assert.ok(minimum, `engines.node is a plain minimum (>=X.Y), got "${declared}"`);
  const floor = parseVersion(minimum[1]!);
  const lock = readJson('package-lock.json') as { packages: Record<string, { version?: string; engines?: unknown }> };
  const refusing = Object.entries(lock.packages)
    .filter(([name, entry]) => name !== '' && typeof entry.engines === 'object' && entry.engines !== null && 'node' in entry.engines)
    .filter(([, entry]) => !satisfies(floor, (entry.engines as { node: string }).node))
    .map(([name, entry]) => `${name.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${(entry.engines as { node: string }).node}`);
  assert.deepEqual(refusing, [], `Node ${minimum[1]} is refused by`);
});

// light-my-request (fastify.inject, which every API test uses) with cookie 1.x: it writes the
// cookies of a request with cookie's stringifySetCookie({ name, value }).
test('fastify.inject sends cookies (light-my-request on the pinned cookie)', async () => {
  const app = Fastify();
  app.get('/echo', async (request) => ({ cookie: request.headers.cookie }));
  const response = await app.inject({ method: 'GET', url: '/echo', cookies: { session: 'a b', other: 'x' } });
  assert.deepEqual(response.json(), { cookie: 'session=a%20b; other=x' });
  await app.close();
});
