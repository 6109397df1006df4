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

/** An IPv6 address as its eight 16-bit groups (a trailing dotted IPv4 part included). */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase().split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? left.length !== 8 : missing < 0) return null;
  const groups = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** The IPv4 address an IPv6 one carries (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64). */
function embeddedIpv4(groups: number[]): string | null {
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const carries = (zeros(0, 5) && (groups[5] === 0xffff || groups[5] === 0)) || (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6));
  if (!carries || (zeros(0, 7) && groups[7]! <= 1)) return null;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

/** Whether an IP address is one a webhook must not reach. */
export function isBlockedAddress(address: string): boolean {
  if (net.isIPv4(address)) return ipv4Blocked(address);
  const lower = address.toLowerCase();
  const groups = ipv6Groups(lower);
  if (!groups) return true; // not an address we understand: refuse
  const ipv4 = embeddedIpv4(groups);
  if (ipv4) return ipv4Blocked(ipv4);
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
    if (blocked) throw new DestinationError(
        `url resolves to ${blocked.address}, a private or internal address; webhooks must reach a public address (on a closed network, start the server with PARLEY_ALLOW_PRIVATE_WEBHOOKS=true)`,
      );
  }
  const chosen = addresses[0]!;
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
