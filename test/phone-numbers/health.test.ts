// GET /whatsapp/phone_numbers/{id}/health against a stand-in Graph API: the checks built from
// Meta's answers, what reaches Meta, the cache (and what ends it early), the hold after access
// errors, Meta failures as 502, 404s, the per-project limit, and Kapso's schema for the answers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { GraphClient } from '../../src/meta-graph/client.ts';
import { HEALTH_LIMITS, HealthRateLimiter, PhoneNumberHealthService } from '../../src/phone-numbers/health.ts';
import { createKey } from '../../src/projects/service.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { kapsoChecksAlongside, kapsoOracle, kapsoTest } from '../helpers/kapso-oracle.ts';

const kapso = kapsoChecksAlongside('Health answers');
const OPERATION = 'getWhatsappPhoneNumberHealth';
const TOKEN = 'EAAG-health-token';
const MINUTE = 60_000;

interface Call {
  path: string;
  query: string;
  authorization: string | undefined;
}

/** What the stand-in answers for one number (by Meta id) and its WABA. */
interface Behaviour {
  phone: { status: number; body: unknown } | 'hang-up';
  /** The number's answer waits for this. */
  gate?: Promise<void>;
  apps: { status: number; body: unknown };
}

const connected = (id: string, overrides: Record<string, unknown> = {}) => ({
  status: 200,
  body: {
    id,
    verified_name: 'Lisbon Bakery',
    display_phone_number: '+351 21 000 0000',
    quality_rating: 'GREEN',
    status: 'CONNECTED',
    messaging_limit_tier: 'TIER_1K',
    health_status: { can_send_message: 'AVAILABLE', entities: [{ entity_type: 'PHONE_NUMBER', id, can_send_message: 'AVAILABLE' }] },
    ...overrides,
  },
});
const subscribed = { status: 200, body: { data: [{ whatsapp_business_api_data: { id: '778899001122334', name: 'Parley', link: 'https://example.test' } }] } };
const oauthError = { status: 400, body: { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: 'AbC' } } };

/** A tiny Graph API: answers by number id and WABA id, records every call. */
async function standIn() {
  const behaviours = new Map<string, Behaviour>();
  const wabaOf = new Map<string, string>();
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://stand-in');
    const [, version, id, edge] = url.pathname.split('/');
    calls.push({ path: url.pathname, query: url.search.slice(1), authorization: req.headers.authorization });
    const behaviour = behaviours.get(edge === 'subscribed_apps' ? (wabaOf.get(id!) ?? '') : id!);
    const reply = !behaviour || version !== 'v23.0' ? { status: 404, body: { error: { message: 'Unknown path', code: 803 } } } : edge === 'subscribed_apps' ? behaviour.apps : behaviour.phone;
    if (reply === 'hang-up') return void req.socket.destroy();
    const send = () => {
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    };
    if (behaviour?.gate && edge !== 'subscribed_apps') void behaviour.gate.then(send);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    set(numberId: string, waba: string, behaviour: Behaviour) {
      behaviours.set(numberId, behaviour);
      wabaOf.set(waba, numberId);
    },
    callsFor: (numberId: string, since = 0) => calls.slice(since).filter((c) => c.path.includes(numberId)),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

let meta: Awaited<ReturnType<typeof standIn>>;
let t: TestApp;
let seq = 0;

before(async () => {
  meta = await standIn();
  t = await startTestApp({ metaGraphUrl: meta.url, metaTimeoutMs: 2000 });
});
after(async () => {
  await t?.close();
  await meta?.close();
});

/**
 * A project of its own (so that the 5-a-second limit never meets another test) with one number
 * whose Meta answers are `behaviour`.
 */
async function numberWith(behaviour: (id: string) => Behaviour): Promise<{ key: string; id: string; waba: string }> {
  seq += 1;
  const { key } = await createKey(t.database.db, `health-${seq}-${randomBytes(3).toString('hex')}`);
  const customer = await t.request({ method: 'POST', url: '/platform/v1/customers', key, body: { customer: { name: 'Bakery' } } });
  const id = `1065403522${String(seq).padStart(5, '0')}`;
  const waba = `1022901293${String(seq).padStart(5, '0')}`;
  const created = await t.request({
    method: 'POST',
    url: `/platform/v1/customers/${customer.body.data.id}/whatsapp/phone_numbers`,
    key,
    body: { whatsapp_phone_number: { name: 'Support', phone_number_id: id, business_account_id: waba, access_token: TOKEN } },
  });
  assert.equal(created.status, 201, created.text);
  meta.set(id, waba, behaviour(id));
  return { key, id, waba };
}

async function health(number: { key: string; id: string }, expected = 200): Promise<TestResponse> {
  const response = await t.request({ method: 'GET', url: `/platform/v1/whatsapp/phone_numbers/${number.id}/health`, key: number.key });
  assert.equal(response.status, expected, response.text);
  if (expected === 200) kapso.assertResponse(OPERATION, 200, response.body);
  return response;
}

describe('the checks', () => {
  test('a connected number that can send, with its app subscribed: healthy, from two Graph calls with its token', async () => {
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const before = meta.calls.length;
    const { body, headers } = await health(number);
    assert.equal(body.status, 'healthy');
    assert.deepEqual(Object.keys(body.checks).sort(), ['messaging_health', 'phone_number_access', 'phone_number_connection', 'webhook_subscription', 'webhook_verified']);
    assert.deepEqual(body.checks.phone_number_access, {
      passed: true,
      details: { verified_name: 'Lisbon Bakery', display_phone_number: '+351 21 000 0000', quality_rating: 'GREEN', status: 'CONNECTED', throughput_tier: 'TIER_1K', id: number.id },
    });
    assert.deepEqual(body.checks.phone_number_connection, { passed: true, details: { status: 'CONNECTED' } });
    assert.equal(body.checks.messaging_health.overall_status, 'AVAILABLE');
    assert.deepEqual(body.checks.webhook_subscription, { passed: true, details: { app_id: '778899001122334', subscribed: true } });
    assert.equal(body.checks.webhook_verified.passed, null);
    assert.ok(Date.parse(body.timestamp) > Date.now() - MINUTE);
    for (const name of ['second-limit', 'second-remaining', 'minute-limit', 'minute-remaining']) assert.match(String(headers[`x-health-ratelimit-${name}`]), /^\d+$/, name);

    const calls = meta.calls.slice(before);
    assert.equal(calls.length, 2);
    const phoneCall = calls.find((c) => c.path === `/v23.0/${number.id}`);
    assert.ok(phoneCall, JSON.stringify(calls));
    assert.match(decodeURIComponent(phoneCall.query), /^fields=.*\bstatus\b.*\bhealth_status\b/);
    assert.ok(calls.some((c) => c.path === `/v23.0/${number.waba}/subscribed_apps`));
    assert.ok(calls.every((c) => c.authorization === `Bearer ${TOKEN}`), 'the number’s own token, opened only for the call');
    assert.ok(!JSON.stringify(body).includes(TOKEN));
  });

  test('limited messaging, or no app subscribed: degraded', async () => {
    const limited = await numberWith((id) => ({ phone: connected(id, { health_status: { can_send_message: 'LIMITED', entities: [] } }), apps: subscribed }));
    const a = (await health(limited)).body;
    assert.equal(a.status, 'degraded');
    assert.deepEqual([a.checks.messaging_health.passed, a.checks.messaging_health.overall_status], [false, 'LIMITED']);
    const lonely = await numberWith((id) => ({ phone: connected(id), apps: { status: 200, body: { data: [] } } }));
    const b = (await health(lonely)).body;
    assert.equal(b.status, 'degraded');
    assert.deepEqual(b.checks.webhook_subscription, { passed: false, details: { app_id: null, subscribed: false } });
  });

  test('disconnected, or blocked from sending: unhealthy; an unknown connection status counts for nothing', async () => {
    const disconnected = await numberWith((id) => ({ phone: connected(id, { status: 'DISCONNECTED' }), apps: subscribed }));
    const a = (await health(disconnected)).body;
    assert.equal(a.status, 'unhealthy');
    assert.deepEqual(a.checks.phone_number_connection, { passed: false, details: { status: 'DISCONNECTED' } });
    const blocked = await numberWith((id) => ({ phone: connected(id, { health_status: { can_send_message: 'BLOCKED', entities: [] } }), apps: subscribed }));
    assert.equal((await health(blocked)).body.status, 'unhealthy');
    const flagged = await numberWith((id) => ({ phone: connected(id, { status: 'FLAGGED' }), apps: subscribed }));
    const c = (await health(flagged)).body;
    assert.equal(c.status, 'healthy');
    assert.deepEqual(c.checks.phone_number_connection, { passed: null, details: { status: 'UNKNOWN' } });
  });

  test('Meta refusing the token: unhealthy with Meta’s error, held with retry_after instead of asking again', async () => {
    const number = await numberWith(() => ({ phone: oauthError, apps: { status: 401, body: oauthError.body } }));
    const first = (await health(number)).body;
    assert.equal(first.status, 'unhealthy');
    assert.equal(first.checks.phone_number_access.passed, false);
    assert.match(first.checks.phone_number_access.error, /^Meta Graph API error: 400 - Invalid OAuth access token.*code 190/);
    assert.equal(first.checks.webhook_subscription.passed, false);
    assert.equal(first.checks.phone_number_connection, undefined);
    const held = Date.parse(first.retry_after) - Date.parse(first.timestamp);
    assert.equal(held, 5 * MINUTE);
    const since = meta.calls.length;
    assert.deepEqual((await health(number)).body, first);
    assert.equal(meta.calls.length, since, 'the hold is answered from the cache');
  });
});

describe('cache and failures', () => {
  test('a second check within 3 minutes is the cached answer; a PATCH of the number, or a change made elsewhere, checks afresh', async () => {
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const first = (await health(number)).body;
    const since = meta.calls.length;
    assert.deepEqual((await health(number)).body, first);
    assert.equal(meta.callsFor(number.id, since).length, 0);

    const renamed = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/phone_numbers/${number.id}`, key: number.key, body: { whatsapp_phone_number: { name: 'Renamed' } } });
    assert.equal(renamed.status, 200, renamed.text);
    await health(number);
    assert.equal(meta.callsFor(number.id, since).length, 1, 'the PATCH dropped the cached answer');

    // Another node's change: only updated_at tells this node.
    const again = meta.calls.length;
    await t.database.db.updateTable('phone_numbers').set({ updated_at: new Date(Date.now() + 1000).toISOString() }).where('phone_number_id', '=', number.id).execute();
    await health(number);
    assert.equal(meta.callsFor(number.id, again).length, 1);
  });

  test('Meta unreachable or failing on the number: 502 naming Meta, and nothing cached', async () => {
    const hangUp = await numberWith(() => ({ phone: 'hang-up', apps: subscribed }));
    const a = await health(hangUp, 502);
    assert.match(a.body.error, /Meta's Graph API failed.*could not be reached/);
    assert.deepEqual(Object.keys(a.body), ['error']);
    const broken = await numberWith(() => ({ phone: { status: 500, body: { error: { message: 'An unknown error occurred', code: 1 } } }, apps: subscribed }));
    const b = await health(broken, 502);
    assert.match(b.body.error, /Meta's Graph API failed.*500/);
    const since = meta.calls.length;
    await health(broken, 502);
    assert.ok(meta.callsFor(broken.id, since).length >= 1, 'a failure is not cached');
  });

  test("unknown, deleted or another project's number: 404 without calling Meta", async () => {
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const other = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const since = meta.calls.length;
    await health({ key: number.key, id: '999999999999' }, 404);
    await health({ key: number.key, id: other.id }, 404);
    const deleted = await t.request({ method: 'DELETE', url: `/platform/v1/whatsapp/phone_numbers/${number.id}`, key: number.key });
    assert.equal(deleted.status, 204);
    const gone = await health(number, 404);
    assert.equal(gone.body.error, 'Phone number not found');
    assert.equal(meta.calls.length, since);
  });

  test('more than 5 checks in a second in one project: 429 with Retry-After, before Meta is called', async () => {
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const since = meta.calls.length;
    // Twelve at once: even if a second boundary falls between them, at most ten can pass.
    const answers = await Promise.all(Array.from({ length: 12 }, () => t.request({ method: 'GET', url: `/platform/v1/whatsapp/phone_numbers/${number.id}/health`, key: number.key })));
    const refused = answers.filter((r) => r.status === 429);
    assert.ok(refused.length >= 2, answers.map((r) => r.status).join(','));
    for (const r of refused) {
      assert.match(r.body.error, /5 a second and 60 a minute/);
      assert.match(String(r.headers['retry-after']), /^\d+$/);
      assert.equal(r.headers['x-health-ratelimit-second-remaining'], '0');
    }
    assert.ok(meta.callsFor(number.id, since).length <= 2, 'refused checks and cached ones never reached Meta');
  });
});

describe('the service with a moved clock', () => {
  let clock = Date.now();
  let service: PhoneNumberHealthService;
  let graph: GraphClient;
  before(() => {
    graph = new GraphClient({ baseUrl: meta.url, timeoutMs: 2000, cipher: t.cipher, logger: pino({ level: 'silent' }) });
    service = new PhoneNumberHealthService(t.database.db, graph, { now: () => clock });
  });
  after(async () => graph?.close());

  const projectOf = async (key: string) => (await t.database.db.selectFrom('api_keys').select('project_id').where('prefix', '=', key.slice(4, 12)).executeTakeFirstOrThrow()).project_id;

  test('answers expire after 3 minutes', async () => {
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
    const project = await projectOf(number.key);
    const since = meta.calls.length;
    const first = await service.check(project, number.id);
    clock += 3 * MINUTE - 1000;
    assert.equal(await service.check(project, number.id), first);
    clock += 2000;
    const fresh = await service.check(project, number.id);
    assert.notEqual(fresh.timestamp, first.timestamp);
    assert.equal(meta.callsFor(number.id, since).length, 2);
  });

  test('access errors are held 5, then 15 minutes; a new token ends the hold', async () => {
    const number = await numberWith(() => ({ phone: oauthError, apps: subscribed }));
    const project = await projectOf(number.key);
    const first = await service.check(project, number.id);
    assert.equal(Date.parse(first.retry_after!) - clock, 5 * MINUTE);
    clock += 5 * MINUTE + 1000;
    const second = await service.check(project, number.id);
    assert.equal(Date.parse(second.retry_after!) - clock, 15 * MINUTE);
    clock += 10 * MINUTE;
    assert.equal(await service.check(project, number.id), second, 'still held');
    const rotated = await t.request({ method: 'PATCH', url: `/platform/v1/whatsapp/phone_numbers/${number.id}`, key: number.key, body: { whatsapp_phone_number: { access_token: 'EAAG-new-token' } } });
    assert.equal(rotated.status, 200, rotated.text);
    meta.set(number.id, number.waba, { phone: connected(number.id), apps: subscribed });
    const after = await service.check(project, number.id);
    assert.equal(after.status, 'healthy');
    assert.equal(after.retry_after, undefined);
  });

  test('a request that finds a check running shares it, and gets status error when it runs too long', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed, gate }));
    const project = await projectOf(number.key);
    const impatient = new PhoneNumberHealthService(t.database.db, graph, { now: () => clock, inFlightWaitMs: 1 });
    const since = meta.calls.length;
    const starter = impatient.check(project, number.id);
    // The check is under way once Meta has been asked (the gate holds its answer).
    while (meta.callsFor(number.id, since).length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const joiner = await impatient.check(project, number.id);
    assert.equal(joiner.status, 'error');
    assert.match(joiner.error ?? '', /still running; retry/);
    release();
    assert.equal((await starter).status, 'healthy');
    assert.equal(meta.callsFor(number.id, since).filter((c) => c.path === `/v23.0/${number.id}`).length, 1, 'one check, not two');
    assert.equal((await impatient.check(project, number.id)).status, 'healthy', 'the finished check is cached');
  });

  test('the limiter: 5 a second and 60 a minute per project, with the counters and the wait', () => {
    let now = Date.parse('2026-03-04T09:12:00.000Z');
    const limiter = new HealthRateLimiter(() => now);
    const takes = (n: number, project = 'p') => Array.from({ length: n }, () => limiter.take(project));
    const burst = takes(6);
    assert.deepEqual(burst.map((b) => b.retryAfter), [null, null, null, null, null, 1]);
    assert.equal(burst[4]!.headers['x-health-ratelimit-second-remaining'], '0');
    assert.equal(burst[4]!.headers['x-health-ratelimit-minute-remaining'], String(HEALTH_LIMITS.perMinute - 5));
    assert.equal(limiter.take('q').retryAfter, null, 'another project has its own counters');
    for (let second = 1; second < 12; second++) {
      now += 1000;
      takes(5);
    }
    now += 1000;
    const over = limiter.take('p');
    assert.equal(over.headers['x-health-ratelimit-minute-remaining'], '0');
    assert.equal(over.retryAfter, 48, 'seconds until the minute turns');
    now = Date.parse('2026-03-04T09:13:00.000Z');
    assert.equal(limiter.take('p').retryAfter, null);
  });
});

kapsoTest("Kapso's document describes this operation's answers and headers as Parley sends them", async () => {
  const number = await numberWith((id) => ({ phone: connected(id), apps: subscribed }));
  const response = await health(number);
  kapsoOracle().assertHeaders(OPERATION, 200, response.headers);
  kapsoOracle().assertResponse(OPERATION, 200, response.body);
  kapsoOracle().assertError(OPERATION, 404, (await health({ key: number.key, id: '42' }, 404)).body);
});
