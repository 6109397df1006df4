// PostgreSQL text and jsonb cannot hold U+0000: a NUL that reached a query would fail there
// (500) or, in a filter, match nothing for a reason nobody could see. Every request is checked
// once, before validation, and a NUL anywhere — a JSON string or key at any depth, a query
// parameter, a path parameter, a stored header — is refused with a 422 naming where it is.
// Raw bodies (Buffers) are left alone: the Meta endpoint takes them as sent and cleans them itself.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { unprocessable } from './errors.ts';

const NUL = '\u0000';

/** Headers whose values are stored or compared with stored text. */
const CHECKED_HEADERS = ['idempotency-key'];
/** Longest location named in an error; deeper ones are shortened in the middle. */
const MAX_PATH = 200;

interface Node {
  value: unknown;
  key: string | number | null;
  parent: Node | null;
}

/** `contact.metadata.tags[2]`, built only for the node that holds the NUL. */
function pathOf(node: Node, root: string): string {
  const parts: string[] = [];
  for (let n: Node | null = node; n !== null && n.key !== null; n = n.parent) parts.push(typeof n.key === 'number' ? `[${n.key}]` : `.${n.key}`);
  let text = parts.reverse().join('');
  if (text.startsWith('.')) text = text.slice(1);
  else if (text.startsWith('[') && root === '') text = `body${text}`;
  const path = `${root}${text}`.trim();
  if (path === '') return 'the request body';
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH / 2)}…${path.slice(-MAX_PATH / 2)}` : path;
}

/** Names the holder of a key with a NUL: a key of the body, a query parameter's name, … */
function keyOf(node: Node, root: string): string {
  if (node.key === null && root !== '') return `the name of a ${root.trim()}`;
  return `a key in ${pathOf(node, root)}`;
}

/**
 * Where in `value` a NUL is, as a sentence ready for an error; null when there is none. Walked
 * with an explicit stack: bodies nested 100 000 levels deep must not overflow the call stack.
 */
export function findNul(value: unknown, root: string): string | null {
  const stack: Node[] = [{ value, key: null, parent: null }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (typeof v === 'string') {
      if (v.includes(NUL)) return `${pathOf(node, root)} must not contain the NUL character`;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: node });
    } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
      for (const [key, child] of Object.entries(v)) {
        if (key.includes(NUL)) return `${keyOf(node, root)} must not contain the NUL character`;
        stack.push({ value: child, key, parent: node });
      }
    }
  }
  return null;
}

/** Deeper than this, `isClean` gives up and the explicit-stack walk decides. */
const QUICK_DEPTH = 32;

/**
 * True when `value` certainly holds no NUL: a recursive walk that allocates nothing for the common
 * case (a clean request), so that the walk that names the location runs only when one is found or
 * the value is deeper than QUICK_DEPTH.
 */
function isClean(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return !value.includes(NUL);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return true;
  if (depth >= QUICK_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isClean(value[i], depth + 1)) return false;
    return true;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key.includes(NUL) || !isClean(record[key], depth + 1)) return false;
  }
  return true;
}

function headerNul(request: FastifyRequest): string | null {
  for (const name of CHECKED_HEADERS) {
    const found = findNul(request.headers[name], `header ${name}`);
    if (found) return found;
  }
  return null;
}

/**
 * preValidation hook: the one place a request's text is checked for NUL. Written with `done`
 * rather than async: it runs on every request, and needs no promise of its own.
 */
export function refuseNulCharacters(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
  if (isClean(request.params, 0) && isClean(request.query, 0) && CHECKED_HEADERS.every((name) => isClean(request.headers[name], 0)) && isClean(request.body, 0)) {
    done();
    return;
  }
  const found = findNul(request.params, 'path parameter ') ?? findNul(request.query, 'query parameter ') ?? headerNul(request) ?? findNul(request.body, '');
  done(found ? unprocessable(found) : undefined);
}
