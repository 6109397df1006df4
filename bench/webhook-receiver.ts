// The webhook receiver of `npm run bench:webhooks`, run as its own child process (so its CPU does
// not compete with the orchestrator's event loop): a bare node:http server on 127.0.0.1 that
// answers every POST with 200 and an empty body as soon as the body has arrived, checks the
// X-Webhook-Signature with its own HMAC-SHA256 code (not Parley's), and remembers per request the
// receipt time (wall clock, sub-millisecond), the X-Idempotency-Key, the X-Webhook-Event and
// whether the signature was valid.
//
// Control endpoints (GET): /stats (counts), /records (everything recorded, as JSON);
// POST /reset clears the records and counters between scenarios.
// Env: PORT, SECRET (the webhook's secret_key).
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

const port = Number(process.env.PORT);
const secret = process.env.SECRET ?? '';
if (!port || !secret) throw new Error('PORT and SECRET are required');

/** [receipt time in epoch ms (fractional), idempotency key, valid signature 1/0, event] */
type Record = [number, string, 0 | 1, string];
let records: Record[] = [];
let invalid = 0;
let connections = 0; // TCP connections accepted since the last reset
let open = 0;
let maxOpen = 0;

const now = () => performance.timeOrigin + performance.now();

function validSignature(body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !/^[0-9a-f]{64}$/i.test(header)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(header, 'hex'));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    const body = JSON.stringify({ count: records.length, invalid, connections, maxOpen });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.method === 'GET' && req.url === '/records') {
    const body = JSON.stringify(records);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    records = [];
    invalid = 0;
    connections = 0;
    maxOpen = open;
    req.resume();
    res.writeHead(204).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = now();
    const ok = validSignature(Buffer.concat(chunks), req.headers['x-webhook-signature']);
    if (!ok) invalid += 1;
    const key = req.headers['x-idempotency-key'];
    const event = req.headers['x-webhook-event'];
    records.push([at, typeof key === 'string' ? key : '', ok ? 1 : 0, typeof event === 'string' ? event : '']);
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
});
server.on('connection', (socket) => {
  connections += 1;
  open += 1;
  if (open > maxOpen) maxOpen = open;
  socket.once('close', () => (open -= 1));
});
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close(() => process.exit(0)) && server.closeAllConnections());
