// One webhook POST: connects to the address the destination check approved (so DNS cannot
// change it in between), signs the exact bytes, stops after the timeout, reads at most a small
// part of the receiver's answer.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { DestinationError, parseWebhookUrl, resolveDestination } from './destination.ts';

const RESPONSE_CAP_BYTES = 64 * 1024;

// Connections to receivers are kept open between deliveries. A pooled connection goes to the
// address that was checked when it was opened.
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 }),
};

export interface Outgoing {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}

export interface SendResult {
  status: number | null;
  error: string | null;
}

export function signature(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export async function send(out: Outgoing): Promise<SendResult> {
  let url: URL;
  let destination: { address: string; family: 4 | 6 };
  try {
    url = parseWebhookUrl(out.url);
    destination = await resolveDestination(url, out.allowPrivate);
  } catch (error) {
    return { status: null, error: error instanceof DestinationError ? error.message : String(error) };
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    let request: http.ClientRequest;
    try {
      request = client.request(
        url,
        {
          method: 'POST',
          headers: { ...out.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(out.body) },
          // Connect to the checked address; TLS still verifies the certificate for the URL's host.
          // Node may ask for every address (autoSelectFamily); answer in the form it asked for.
          lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
            options?.all ? callback(null, [{ address: destination.address, family: destination.family }]) : callback(null, destination.address, destination.family)) as never,
          agent: agents[url.protocol as 'http:' | 'https:'],
        },
        (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > RESPONSE_CAP_BYTES) response.destroy();
          });
          const status = response.statusCode ?? null;
          const done = () => finish({ status, error: status !== null && status >= 200 && status < 300 ? null : `receiver answered ${status}` });
          response.on('end', done);
          response.on('close', done);
          response.on('error', done);
        },
      );
    } catch (error) {
      // A header the HTTP layer refuses (it throws at once): this attempt fails, retries follow.
      finish({ status: null, error: error instanceof Error ? error.message : String(error) });
      return;
    }
    timer = setTimeout(() => {
      request.destroy();
      finish({ status: null, error: `no answer within ${out.timeoutMs} ms` });
    }, out.timeoutMs);
    request.on('error', (error) => finish({ status: null, error: error.message }));
    request.end(out.body);
  });
}
