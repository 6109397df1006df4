// Fetching a file from a user-given URL for POST /whatsapp/media, with the outbound webhooks'
// guard against server-side request forgery: the host is resolved once, refused when it is
// private or internal, and the connection goes to exactly that address (no DNS rebinding).
// Redirects are followed a few times, each hop checked the same way.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { DestinationError, resolveDestination } from '../webhooks/destination.ts';

const MAX_REDIRECTS = 3;
const HEADERS_TIMEOUT_MS = 30_000;

export class SourceRefused extends Error {}
export class SourceUnusable extends Error {}

export interface SourceResponse {
  url: URL;
  contentType: string | null;
  contentLength: number | null;
  contentDisposition: string | null;
  body: Readable;
}

export function parseSourceUrl(raw: string): URL | null {
  try {
    const url = new URL(raw);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.username || url.password) return null;
    return url;
  } catch {
    return null;
  }
}

function get(url: URL, address: string, family: 4 | 6): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(url, {
      headers: { 'user-agent': 'Parley media ingest', accept: '*/*' },
      lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
        options?.all ? callback(null, [{ address, family }]) : callback(null, address, family)) as never,
      timeout: HEADERS_TIMEOUT_MS,
    });
    request.once('response', resolve);
    request.once('timeout', () => request.destroy(new SourceUnusable(`the source did not answer within ${HEADERS_TIMEOUT_MS / 1000} s`)));
    request.once('error', (error) => reject(error instanceof SourceUnusable ? error : new SourceUnusable(`the source could not be reached (${(error as NodeJS.ErrnoException).code ?? error.message})`)));
  });
}

/** Opens the source; the body must be read or destroyed. */
export async function openSource(start: URL, allowPrivate: boolean): Promise<SourceResponse> {
  let url = start;
  for (let hop = 0; ; hop++) {
    let destination: { address: string; family: 4 | 6 };
    try {
      destination = await resolveDestination(url, allowPrivate);
    } catch (error) {
      if (error instanceof DestinationError && /private or internal/.test(error.message)) {
        throw new SourceRefused(`Cannot fetch from private IP addresses or localhost (${url.hostname} is one)`);
      }
      throw new SourceUnusable(error instanceof Error ? error.message.replace(/^url/, 'source URL') : String(error));
    }
    const response = await get(url, destination.address, destination.family);
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && typeof response.headers.location === 'string') {
      response.resume();
      if (hop >= MAX_REDIRECTS) throw new SourceUnusable(`the source redirected more than ${MAX_REDIRECTS} times`);
      const next = parseSourceUrl(new URL(response.headers.location, url).toString());
      if (!next) throw new SourceUnusable('the source redirected to a URL that is not http(s)');
      url = next;
      continue;
    }
    if (status < 200 || status >= 300) {
      response.resume();
      throw new SourceUnusable(`the source answered HTTP ${status}`);
    }
    const length = Number(response.headers['content-length']);
    const type = response.headers['content-type'];
    return {
      url,
      contentType: typeof type === 'string' ? type.split(';')[0]!.trim().toLowerCase() || null : null,
      contentLength: Number.isSafeInteger(length) && length >= 0 && response.headers['content-length'] !== undefined ? length : null,
      contentDisposition: typeof response.headers['content-disposition'] === 'string' ? response.headers['content-disposition'] : null,
      body: response,
    };
  }
}
