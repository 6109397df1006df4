// The HTTP plumbing of the stand-in: bodies read and parsed, tokens found, queries recorded,
// JSON answers written, and the Meta error a fault answers by default.
import type http from 'node:http';
import { GraphError, invalidParameter, wrongToken } from './graph-errors.ts';

const JSON_TYPE = 'application/json; charset=UTF-8';
const BODY_LIMIT = 10 * 1024 * 1024;

export function defaultErrorBody(status: number) {
  if (status === 429) return new GraphError(429, '(#4) Application request limit reached', 'OAuthException', 4).body();
  if (status === 401) return wrongToken().body();
  if (status >= 500) return new GraphError(status, status === 503 ? 'Service temporarily unavailable' : 'An unknown error has occurred.', 'OAuthException', status === 503 ? 2 : 1).body();
  return invalidParameter('the stand-in was told to fail this call').body();
}

export function bearerOf(req: http.IncomingMessage, query: URLSearchParams): string | null {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  // Meta also takes the token in the query (its own paging links do so).
  return query.get('access_token');
}

export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  // Events rather than async iteration: this is on every send's path.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        reject(new GraphError(413, 'Request body is too large', 'OAuthException', 100));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      throw invalidParameter('the request body is not valid JSON');
    }
  }
  if (contentType && /x-www-form-urlencoded/i.test(contentType)) return Object.fromEntries(new URLSearchParams(text));
  // Meta reads a JSON body even when the client forgot its content type.
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text.length > 4096 ? { bytes: raw.length } : text;
}

export function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of query) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
