// The floor Parley is measured against: raw node:http + pg running the very SQL statements Parley
// sends for GET and PATCH (merge) /platform/v1/whatsapp/contacts/{phone}. Everything else is
// skipped on purpose: key hashing, rate limiting, phone normalisation, validation, ETags,
// schema-driven serialisation, timestamp formatting, request ids and error handling (see README).
// Env: DATABASE_URL, PORT, PROJECT_ID, API_KEY.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createPool } from '../src/db/connection.ts';
import { selectContactStatement, updateContactStatement } from '../src/contacts/prepared.ts';

// Parley's own statement builders: the same SQL text, parameters and prepared-statement names.
const limits = { bytes: 16 * 1024, depth: 8 };
export const getStatement = (project: string, phone: string) => selectContactStatement(project, { by: 'wa_id', value: phone, alternative: null });
export const patchStatement = (project: string, phone: string, metadata: string) =>
  updateContactStatement(project, { by: 'wa_id', value: phone, alternative: null }, { metadata }, { mergeMetadata: true, ifMatch: null, metadataLimits: limits });

const PREFIX = '/platform/v1/whatsapp/contacts/';

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { DATABASE_URL, PORT, PROJECT_ID: project, API_KEY } = process.env;
  const pool = createPool(DATABASE_URL!, { max: 20, applicationName: 'baseline' }); // Parley's pool settings
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body); // Content-Length like Parley's replies, not chunked
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  http.createServer((req, res) => {
    if (req.headers['x-api-key'] !== API_KEY) return send(res, 401, { error: 'Missing or invalid API key' });
    if (!req.url?.startsWith(PREFIX)) return send(res, 404, { error: 'No route' });
    const phone = req.url.slice(PREFIX.length);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', async () => {
      try {
        let result;
        if (req.method === 'GET') result = await pool.query(getStatement(project!, phone));
        else {
          const patch = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()).contact.metadata);
          result = await pool.query(patchStatement(project!, phone, patch));
        }
        if (result.rows.length === 0) send(res, 404, { error: 'Contact not found' });
        else send(res, 200, { data: result.rows[0] });
      } catch (error) {
        send(res, 500, { error: String(error) });
      }
    });
  }).listen(Number(PORT), '127.0.0.1');
}
