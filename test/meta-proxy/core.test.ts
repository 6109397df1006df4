// The proxy's plumbing on a plain passthrough path: the key check, which number a path names,
// what reaches Meta (the number's token, never the client's key), Meta's answers relayed as they
// are, paging links rewritten, and Meta-shaped refusals when Meta is down or slow.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber } from '../helpers/meta.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The smallest upstream: answers what `respond` says and records each call. */
function upstream(respond: (seen: Seen, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(call);
      respond(call, res);
    });
  });
  return new Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      }),
    ),
  );
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('the Meta proxy plumbing', () => {
  let t: TestApp;
  let meta: Awaited<ReturnType<typeof upstream>>;
  let number: ConnectedNumber;
  let mode: 'ok' | 'error' | 'slow' | 'paging' = 'ok';

  before(async () => {
    meta = await upstream((seen, res) => {
      if (mode === 'slow') return void setTimeout(() => json(res, 200, { late: true }), 1500);
      if (mode === 'error') return json(res, 400, { error: { message: 'Invalid parameter', type: 'OAuthException', code: 100, error_subcode: 2494010, fbtrace_id: 'AbC' } });
      if (mode === 'paging') {
        return json(res, 200, {
          data: [{ id: '1' }],
          paging: { cursors: { before: 'B', after: 'A' }, next: 'https://graph.facebook.com/v23.0/555/message_templates?access_token=EAAG-test-token&limit=1&after=A' },
        });
      }
      json(res, 200, { echo: seen.url });
    });
    t = await startTestApp({ metaGraphUrl: meta.url, metaTimeoutMs: 500 });
    number = await connectNumber(t);
  });
  after(async () => {
    await t.close();
    await meta.close();
  });

  const proxy = (path: string, options: { key?: string | null; headers?: Record<string, string>; method?: 'GET' | 'POST'; body?: unknown } = {}) =>
    t.request({ method: options.method ?? 'GET', url: `/meta/whatsapp/v23.0/${path}`, key: options.key, headers: options.headers, body: options.body });

  test('no key, a wrong key, or a Meta token instead of a Parley key: 401 in Meta shape, nothing forwarded', async () => {
    const before = meta.seen.length;
    for (const options of [{ key: null }, { key: 'prl_AAAAAAAA_nope' }, { key: null, headers: { authorization: 'Bearer EAAG-some-meta-token' } }]) {
      const response = await proxy(`${number.phoneNumberId}/whatsapp_business_profile`, options);
      assert.equal(response.status, 401);
      assert.equal(response.body.error.code, 190);
      assert.equal(response.body.error.type, 'OAuthException');
      assert.equal(typeof response.body.error.fbtrace_id, 'string');
      assert.match(String(response.headers['content-type']), /application\/json/);
    }
    assert.equal(meta.seen.length, before);
  });

  test('a Parley key as a bearer works; the upstream sees the number token and neither key header', async () => {
    const response = await proxy(`${number.phoneNumberId}/whatsapp_business_profile?fields=about`, { key: null, headers: { authorization: `Bearer ${t.key}` } });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.echo, `/v23.0/${number.phoneNumberId}/whatsapp_business_profile?fields=about`);
    const call = meta.seen.at(-1)!;
    assert.equal(call.headers.authorization, 'Bearer EAAG-test-token');
    assert.equal(call.headers['x-api-key'], undefined);
    assert.ok(!JSON.stringify(call.headers).includes(t.key));
  });

  test('any v<major>.<minor> is forwarded with the same version; anything else is refused', async () => {
    const v24 = await t.request({ method: 'GET', url: `/meta/whatsapp/v24.0/${number.phoneNumberId}/settings` });
    assert.equal(v24.status, 200);
    assert.equal(v24.body.echo, `/v24.0/${number.phoneNumberId}/settings`);
    const bad = await t.request({ method: 'GET', url: `/meta/whatsapp/latest/${number.phoneNumberId}/settings` });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /version/);
  });

  test("another project's number, an unknown number, and a path outside the proxy are Meta-shaped 404s with nothing forwarded", async () => {
    const theirs = await connectNumber(t, { key: t.otherKey });
    const before = meta.seen.length;
    for (const path of [`${theirs.phoneNumberId}/messages`, '999999999/whatsapp_business_profile']) {
      const response = await proxy(path, { method: 'POST', body: { messaging_product: 'whatsapp', to: '15550001111', type: 'text', text: { body: 'hi' } } });
      assert.equal(response.status, 404, response.text);
      assert.deepEqual({ ...response.body.error, fbtrace_id: undefined }, { message: 'Phone number not found', type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: undefined });
    }
    const outside = await t.request({ method: 'GET', url: '/meta/whatsapp/nothing' });
    assert.equal(outside.status, 404);
    assert.equal(typeof outside.body.error.message, 'string');
    assert.equal(meta.seen.length, before);
  });

  test('an object path needs the number it belongs to, and only one of this project', async () => {
    const missing = await proxy('1234567890123');
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 100);
    const theirs = await connectNumber(t, { key: t.otherKey });
    const other = await proxy(`1234567890123?phone_number_id=${theirs.phoneNumberId}`);
    assert.equal(other.status, 404);
    const ours = await proxy(`1234567890123?phone_number_id=${number.phoneNumberId}`);
    assert.equal(ours.status, 200);
  });

  test("Meta's errors come back unchanged with Meta's status", async () => {
    mode = 'error';
    try {
      const response = await proxy(`${number.phoneNumberId}/settings`);
      assert.equal(response.status, 400);
      assert.deepEqual(response.body, { error: { message: 'Invalid parameter', type: 'OAuthException', code: 100, error_subcode: 2494010, fbtrace_id: 'AbC' } });
    } finally {
      mode = 'ok';
    }
  });

  test('paging links lose the access token and point at Parley', async () => {
    mode = 'paging';
    try {
      const response = await proxy('102290129340398/message_templates?limit=1');
      assert.equal(response.status, 200);
      assert.ok(!response.text.includes('EAAG-test-token'));
      assert.equal(response.body.paging.next, 'http://localhost:80/meta/whatsapp/v23.0/555/message_templates?limit=1&after=A');
    } finally {
      mode = 'ok';
    }
  });

  test('a slow Meta is a 504 and an unreachable one a 502, both Meta-shaped', async () => {
    mode = 'slow';
    try {
      const slow = await proxy(`${number.phoneNumberId}/settings`);
      assert.equal(slow.status, 504);
      assert.equal(slow.body.error.code, 2);
    } finally {
      mode = 'ok';
    }
    const down = await startTestApp({ database: t.database, cipher: t.cipher, metaGraphUrl: 'http://127.0.0.1:9' });
    try {
      const response = await down.request({ method: 'GET', url: `/meta/whatsapp/v23.0/${number.phoneNumberId}/settings`, key: t.key });
      assert.equal(response.status, 502);
      assert.equal(response.body.error.type, 'GraphMethodException');
    } finally {
      await down.close();
    }
  });
});
