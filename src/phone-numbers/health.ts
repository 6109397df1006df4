// GET /whatsapp/phone_numbers/{id}/health: what Meta says about a number and its WhatsApp
// Business Account, read through the Graph API client and turned into named checks.
//
// - One check per number runs at a time; concurrent requests share it, and one that waits longer
//   than `inFlightWaitMs` gets `status: error` asking to retry.
// - Results are cached 3 minutes per number on this node. The key holds the number's updated_at,
//   so a number changed on any node is checked afresh; this node also forgets it on PATCH/DELETE.
// - When Meta refuses the number's token (an access error), the result is held longer: 5, 15,
//   30, then 60 minutes, with `retry_after`. A change to the number (a new token) ends the hold.
// - Meta unreachable, too slow, or failing with a 5xx on the number itself: 502, not cached.
// - Per project, 5 checks a second and 60 a minute (counted per node), refused with 429 before
//   Meta is called; every answer carries the counters.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { isoMicros } from '../db/connection.ts';
import { ApiError, notFound } from '../http/errors.ts';
import { DEFAULT_GRAPH_VERSION, type GraphClient, GraphUnavailableError } from '../meta-graph/client.ts';
import * as repo from './repo.ts';
import type { PhoneNumberHealth } from './schemas.ts';

type Check = NonNullable<PhoneNumberHealth['checks']>[string];

const CACHE_MS = 3 * 60 * 1000;
const ACCESS_HOLD_MINUTES = [5, 15, 30, 60];
const MAX_CACHED = 10_000;
const PHONE_FIELDS = 'id,verified_name,display_phone_number,quality_rating,status,messaging_limit_tier,health_status';
/** Meta's codes for a token that is invalid, expired or lacks the permission (OAuth, 10, 200–299). */
const isAccessCode = (code: number) => code === 190 || code === 10 || code === 102 || (code >= 200 && code <= 299);

export const HEALTH_LIMITS = { perSecond: 5, perMinute: 60 };

/** Meta answered; `error` set when it answered with an error. */
interface GraphAnswer {
  status: number;
  body: Record<string, unknown> | null;
  error: string | null;
  accessError: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function answer(status: number, body: unknown): GraphAnswer {
  const object = isObject(body) ? body : null;
  if (status >= 200 && status < 300 && object) return { status, body: object, error: null, accessError: false };
  const metaError = isObject(object?.error) ? object.error : null;
  const message = typeof metaError?.message === 'string' ? metaError.message : typeof body === 'string' ? body.slice(0, 200) : 'no error message';
  const code = typeof metaError?.code === 'number' ? metaError.code : null;
  // Rate limits (code 4, 80007, 130429) and payment errors also come as OAuthException: the code decides.
  const accessError = status === 401 || status === 403 || (code !== null ? isAccessCode(code) : metaError?.type === 'OAuthException');
  return { status, body: null, error: `Meta Graph API error: ${status} - ${message}${code !== null ? ` (code ${code})` : ''}`, accessError };
}

const metaFailed = (why: string) => new ApiError(502, `Meta's Graph API failed (${why.replace(/\.$/, '')}); the health check could not run`);

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The checks and overall status, from Meta's two answers and the number as Parley stores it. */
export function buildHealth(number: Pick<repo.PhoneNumberRow, 'webhook_verified_at'>, phone: GraphAnswer, apps: GraphAnswer, now: Date): PhoneNumberHealth {
  const checks: Record<string, Check> = {};
  let unhealthy = false;
  let degraded = false;

  if (phone.error !== null) {
    checks.phone_number_access = { passed: false, error: phone.error };
    checks.messaging_health = { passed: false, error: phone.error };
    unhealthy = true;
  } else {
    const fields = phone.body!;
    const throughput = isObject(fields.throughput) ? fields.throughput.level : undefined;
    const details: Record<string, unknown> = {
      verified_name: text(fields.verified_name),
      display_phone_number: text(fields.display_phone_number),
      quality_rating: text(fields.quality_rating),
      status: text(fields.status),
      throughput_tier: text(fields.messaging_limit_tier) ?? text(throughput),
      id: text(fields.id),
    };
    checks.phone_number_access = { passed: true, details };
    // Only the two states that mean something for sending count; anything else is UNKNOWN.
    const connection = fields.status === 'CONNECTED' || fields.status === 'DISCONNECTED' ? fields.status : 'UNKNOWN';
    checks.phone_number_connection = { passed: connection === 'UNKNOWN' ? null : connection === 'CONNECTED', details: { status: connection } };
    if (connection === 'DISCONNECTED') unhealthy = true;

    const health = isObject(fields.health_status) ? fields.health_status : null;
    const canSend = text(health?.can_send_message) ?? 'UNKNOWN';
    checks.messaging_health = {
      passed: canSend === 'UNKNOWN' ? null : canSend === 'AVAILABLE',
      overall_status: canSend,
      details: { can_send_message: canSend, entities: Array.isArray(health?.entities) ? health.entities : [] },
    };
    if (canSend === 'BLOCKED') unhealthy = true;
    else if (canSend === 'LIMITED') degraded = true;
  }

  if (apps.error !== null) {
    checks.webhook_subscription = { passed: false, error: apps.error };
    degraded = true;
  } else {
    const subscriptions = Array.isArray(apps.body!.data) ? (apps.body!.data as unknown[]).filter(isObject) : [];
    const first = subscriptions[0];
    const app = isObject(first?.whatsapp_business_api_data) ? first.whatsapp_business_api_data : null;
    const details: Record<string, unknown> = { app_id: text(app?.id), subscribed: subscriptions.length > 0 };
    if (Array.isArray(first?.subscribed_fields)) details.subscribed_fields = first.subscribed_fields;
    checks.webhook_subscription = { passed: subscriptions.length > 0, details };
    if (subscriptions.length === 0) degraded = true;
  }

  // Meta verifies Parley's webhook URL once for the app, not per number, so most numbers have no
  // verification time of their own: that is no verdict (null), not a failure to report.
  const verifiedAt = number.webhook_verified_at === null ? null : isoMicros(number.webhook_verified_at);
  checks.webhook_verified = {
    passed: verifiedAt === null ? null : true,
    details: { verified_at: verifiedAt, message: verifiedAt ? `Webhook verified by Meta at ${verifiedAt}` : 'No webhook verification recorded for this number' },
  };

  return { status: unhealthy ? 'unhealthy' : degraded ? 'degraded' : 'healthy', timestamp: now.toISOString(), checks };
}

interface CacheEntry {
  key: string;
  result: PhoneNumberHealth;
  expires: number;
  /** Access errors in a row: how long the next one is held. */
  accessFailures: number;
}

/** Fixed one-second and one-minute windows per project, in this node's memory. */
export class HealthRateLimiter {
  private readonly windows = new Map<string, { second: number; inSecond: number; minute: number; inMinute: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one check; the headers to send, and the seconds to wait when over a limit. */
  take(projectId: string): { headers: Record<string, string>; retryAfter: number | null } {
    const now = this.now();
    const second = Math.floor(now / 1000);
    const minute = Math.floor(now / 60_000);
    let entry = this.windows.get(projectId);
    if (!entry) {
      if (this.windows.size > 10_000) this.windows.clear();
      entry = { second, inSecond: 0, minute, inMinute: 0 };
      this.windows.set(projectId, entry);
    }
    if (entry.second !== second) Object.assign(entry, { second, inSecond: 0 });
    if (entry.minute !== minute) Object.assign(entry, { minute, inMinute: 0 });
    const overSecond = entry.inSecond >= HEALTH_LIMITS.perSecond;
    const overMinute = entry.inMinute >= HEALTH_LIMITS.perMinute;
    if (!overSecond && !overMinute) {
      entry.inSecond += 1;
      entry.inMinute += 1;
    }
    const headers = {
      'x-health-ratelimit-second-limit': String(HEALTH_LIMITS.perSecond),
      'x-health-ratelimit-second-remaining': String(HEALTH_LIMITS.perSecond - entry.inSecond),
      'x-health-ratelimit-minute-limit': String(HEALTH_LIMITS.perMinute),
      'x-health-ratelimit-minute-remaining': String(HEALTH_LIMITS.perMinute - entry.inMinute),
    };
    const retryAfter = overMinute ? Math.max(1, Math.ceil(((minute + 1) * 60_000 - now) / 1000)) : overSecond ? 1 : null;
    return { headers, retryAfter };
  }
}

export interface HealthOptions {
  now?: () => number;
  /** How long a request waits for a check another request started. */
  inFlightWaitMs?: number;
}

export class PhoneNumberHealthService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly running = new Map<string, Promise<PhoneNumberHealth>>();
  private readonly now: () => number;
  private readonly inFlightWaitMs: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly graph: Pick<GraphClient, 'callJson'>,
    options: HealthOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.inFlightWaitMs = options.inFlightWaitMs ?? 15_000;
  }

  async check(projectId: string, phoneNumberId: string): Promise<PhoneNumberHealth> {
    const number = await repo.findWithToken(this.db, projectId, phoneNumberId);
    if (!number) throw notFound('Phone number not found');
    const slot = `${projectId}:${phoneNumberId}`;
    const key = `${number.internal_id}:${number.updated_at}`;
    const cached = this.cache.get(slot);
    if (cached && cached.key === key && cached.expires > this.now()) return cached.result;

    // A request that finds a check running joins it, for a while; the one that started it waits
    // for the Graph client's own timeout.
    const running = this.running.get(slot);
    if (running) return this.waitFor(running);
    // A changed number (another key) starts its access-error hold afresh.
    const failures = cached && cached.key === key ? cached.accessFailures : 0;
    const pending = this.run(slot, key, number, failures).finally(() => this.running.delete(slot));
    this.running.set(slot, pending);
    return pending;
  }

  /** On PATCH and DELETE of the number on this node. */
  forget(projectId: string, phoneNumberId: string): void {
    this.cache.delete(`${projectId}:${phoneNumberId}`);
  }

  private async waitFor(pending: Promise<PhoneNumberHealth>): Promise<PhoneNumberHealth> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<PhoneNumberHealth>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'error', timestamp: new Date(this.now()).toISOString(), error: 'A health check of this number is still running; retry in a few seconds' }),
        this.inFlightWaitMs,
      );
    });
    try {
      return await Promise.race([pending, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(slot: string, key: string, number: repo.PhoneNumberWithToken, accessFailures: number): Promise<PhoneNumberHealth> {
    const call = (path: string, query?: string) =>
      this.graph.callJson({ method: 'GET', version: DEFAULT_GRAPH_VERSION, path, ...(query ? { query } : {}), sealedToken: number.access_token_sealed });
    const [phoneReply, appsReply] = await Promise.allSettled([
      call(number.phone_number_id, `fields=${PHONE_FIELDS}`),
      call(`${number.business_account_id}/subscribed_apps`),
    ]);
    // Without the number's own answer there is nothing to report: the request fails, uncached.
    if (phoneReply.status === 'rejected') {
      if (phoneReply.reason instanceof GraphUnavailableError) throw metaFailed(phoneReply.reason.message);
      throw phoneReply.reason;
    }
    const phone = answer(phoneReply.value.status, phoneReply.value.body);
    if (phone.status >= 500) throw metaFailed(`it answered ${phone.status} for the phone number`);
    let apps: GraphAnswer;
    if (appsReply.status === 'fulfilled') apps = answer(appsReply.value.status, appsReply.value.body);
    else if (appsReply.reason instanceof GraphUnavailableError) apps = { status: 0, body: null, error: `Meta Graph API error: ${appsReply.reason.message}`, accessError: false };
    else throw appsReply.reason;

    const now = this.now();
    const result = buildHealth(number, phone, apps, new Date(now));
    let expires = now + CACHE_MS;
    let failures = 0;
    if (phone.accessError) {
      const holdMs = ACCESS_HOLD_MINUTES[Math.min(accessFailures, ACCESS_HOLD_MINUTES.length - 1)]! * 60_000;
      expires = now + holdMs;
      failures = accessFailures + 1;
      result.retry_after = new Date(expires).toISOString();
    }
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.delete(slot); // re-inserted last, so the oldest entries go first
    this.cache.set(slot, { key, result, expires, accessFailures: failures });
    return result;
  }
}
