// Meta signs each webhook body with the app secret: `X-Hub-Signature-256: sha256=<hex>`.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signBody(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True when `header` is the signature of `body` under any of `secrets` (rotation). */
export function verifySignature(body: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const given = Buffer.from(header.slice(7).toLowerCase(), 'hex');
  let valid = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    // Check every secret, so the time taken does not tell which one matched.
    if (timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}
