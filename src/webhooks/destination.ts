// Where webhooks may be delivered. A URL whose host resolves to loopback, private, link-local,
// carrier-grade NAT, multicast or cloud metadata addresses is refused — at creation and again
// at delivery, against the address actually connected to (no DNS rebinding in between) —
// unless PARLEY_ALLOW_PRIVATE_WEBHOOKS=true (tests and closed networks).
import { lookup } from 'node:dns/promises';
import net from 'node:net';

export class DestinationError extends Error {}

function ipv4Blocked(address: string): boolean {
  const [a = 0, b = 0] = address.split('.').map(Number);
  return (
    a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19)) || a >= 224
  );
}

/** Whether an IP address is one a webhook must not reach. */
export function isBlockedAddress(address: string): boolean {
  if (net.isIPv4(address)) return ipv4Blocked(address);
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return ipv4Blocked(mapped[1]!);
  return (
    lower === '::' || lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe8') ||
    lower.startsWith('fe9') || lower.startsWith('fea') || lower.startsWith('feb') || lower.startsWith('ff') || lower.startsWith('fec0')
  );
}

/** Checks the URL's form: absolute http(s), a host, no credentials. Returns the parsed URL. */
export function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationError('url must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DestinationError('url must use http or https');
  if (url.username || url.password) throw new DestinationError('url must not contain credentials');
  if (!url.hostname) throw new DestinationError('url must name a host');
  return url;
}

/**
 * Resolves the URL's host and returns the address to connect to, refusing blocked ones unless
 * private destinations are allowed.
 */
export async function resolveDestination(url: URL, allowPrivate: boolean): Promise<{ address: string; family: 4 | 6 }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const family = net.isIP(host);
  const addresses = family !== 0 ? [{ address: host, family }] : await lookup(host, { all: true, verbatim: true }).catch(() => []);
  if (addresses.length === 0) throw new DestinationError(`url host ${host} does not resolve`);
  if (!allowPrivate) {
    const blocked = addresses.find((a) => isBlockedAddress(a.address));
    if (blocked) throw new DestinationError(`url resolves to ${blocked.address}, a private or internal address; webhooks must reach a public address`);
  }
  const chosen = addresses[0]!;
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
