// The floor the sending benchmark measures Parley against: a raw forwarder in a few lines.
// node:http takes POST …/{pnid}/messages, undici forwards the body bytes to the stand-in Graph API
// with a fixed token, and on a 2xx one INSERT records the wamid and body on the same database.
// Skipped on purpose: key check, rate limit, number lookup and token decryption, contact and
// conversation upkeep, events, validation, Meta-shaped errors, logging.
// Env: DATABASE_URL, PORT, GRAPH_URL, TOKEN.
import http from 'node:http';
import { Agent, request } from 'undici';
import { createPool } from '../src/db/connection.ts';

const { DATABASE_URL, PORT, GRAPH_URL, TOKEN } = process.env;
const pool = createPool(DATABASE_URL!, { max: 20, applicationName: 'send-baseline' }); // Parley's pool size
const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
await pool.query('CREATE TABLE IF NOT EXISTS bench_raw_sends (wamid text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');

const reply = (res: http.ServerResponse, status: number, text: string) =>
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);

http
  .createServer((req, res) => {
    const path = req.url!.replace(/^\/meta\/whatsapp\//, '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const upstream = await request(`${GRAPH_URL}/${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body,
          dispatcher: agent,
        });
        const text = await upstream.body.text();
        if (upstream.statusCode < 300) {
          const wamid = (JSON.parse(text) as { messages: { id: string }[] }).messages[0]!.id;
          await pool.query('INSERT INTO bench_raw_sends (wamid, body) VALUES ($1, $2)', [wamid, body.toString('utf8')]);
        }
        reply(res, upstream.statusCode, text);
      } catch (error) {
        reply(res, 502, JSON.stringify({ error: { message: String(error), code: 2 } }));
      }
    });
  })
  .listen(Number(PORT), '127.0.0.1');
