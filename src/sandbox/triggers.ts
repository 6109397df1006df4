// Recipients that make the stand-in misbehave on purpose, so tests and demos can reach Meta's
// refusals without Meta. A recipient triggers when its last eight digits are `9999` followed by
// the trigger's four: 8 digits, so numbers made up by tests (seven random trailing digits after a
// fixed prefix) never hit one by accident. Tests should use `triggerRecipient(name)`, not digits.
import { GraphError } from './graph-errors.ts';

export interface SyncRefusal {
  status: number;
  type: string;
  code: number;
  message: string;
  details: string;
  headers?: Record<string, string>;
  /** Template sends are let through (Meta's customer-service window applies to free-form only). */
  templatesPass?: boolean;
}

export interface Trigger {
  /** The trailing four digits after the `9999` marker. */
  suffix: string;
  /** A full example recipient, E.164 digits. */
  example: string;
  summary: string;
  /** Refused when sent: the HTTP answer. */
  refusal?: SyncRefusal;
  /** Accepted, then a `failed` status webhook (after `sent`) with this error instead of delivered/read. */
  fails?: { code: number; title: string; details: string };
}

const MARKER = '9999';
const example = (suffix: string) => `1555${MARKER}${suffix}`;

export const SANDBOX_TRIGGERS = {
  marketingStopped: {
    suffix: '0050',
    example: example('0050'),
    summary: 'refused at once: the recipient stopped marketing messages (131050)',
    refusal: {
      status: 400,
      type: 'OAuthException',
      code: 131050,
      message: 'Unable to deliver the message: this user has opted out of marketing messages from this business.',
      details: 'The recipient turned off marketing messages from this business on WhatsApp.',
    },
  },
  rateLimited: {
    suffix: '0429',
    example: example('0429'),
    summary: 'refused at once with HTTP 429: too many messages for this number (130429), Retry-After: 1',
    refusal: {
      status: 429,
      type: 'OAuthException',
      code: 130429,
      message: '(#130429) Rate limit hit',
      details: 'Cloud API message throughput has been reached for this phone number.',
      headers: { 'retry-after': '1' },
    },
  },
  reengagementWindow: {
    suffix: '0047',
    example: example('0047'),
    summary: 'free-form sends refused: outside the 24-hour customer service window (131047); templates go through',
    refusal: {
      status: 400,
      type: 'OAuthException',
      code: 131047,
      message: 'Re-engagement message',
      details: 'More than 24 hours have passed since the recipient last replied to this number; send a template instead.',
      templatesPass: true,
    },
  },
  serverError: {
    suffix: '0500',
    example: example('0500'),
    summary: 'HTTP 500, code 1: an unknown error on Meta\'s side',
    refusal: {
      status: 500,
      type: 'OAuthException',
      code: 1,
      message: 'An unknown error has occurred.',
      details: 'The stand-in was asked to fail this send.',
    },
  },
  undeliverable: {
    suffix: '0026',
    example: example('0026'),
    summary: 'accepted, then `sent` and a `failed` status webhook with 131026 (message undeliverable)',
    fails: { code: 131026, title: 'Message undeliverable', details: 'The message could not be delivered to this recipient (not on WhatsApp, or an old app).' },
  },
  ecosystemLimit: {
    suffix: '0049',
    example: example('0049'),
    summary: 'accepted, then `sent` and a `failed` status webhook with 131049 (held back to keep engagement healthy)',
    fails: { code: 131049, title: 'This message was not delivered to maintain healthy ecosystem engagement.', details: 'Meta chose not to deliver this marketing message to this user now.' },
  },
} as const satisfies Record<string, Trigger>;

export type TriggerName = keyof typeof SANDBOX_TRIGGERS;

/** An example recipient (E.164 digits) that fires the trigger. */
export function triggerRecipient(name: TriggerName): string {
  return SANDBOX_TRIGGERS[name].example;
}

const BY_SUFFIX = new Map<string, Trigger>(Object.values(SANDBOX_TRIGGERS).map((t: Trigger) => [t.suffix, t]));

/** The trigger a recipient (a phone number or a BSUID) fires, if any. */
export function triggerFor(recipient: string): Trigger | null {
  const digits = recipient.replace(/\D/g, '');
  if (digits.length < 8 || digits.slice(-8, -4) !== MARKER) return null;
  return BY_SUFFIX.get(digits.slice(-4)) ?? null;
}

export function refusalError(refusal: SyncRefusal): GraphError {
  return new GraphError(refusal.status, refusal.message, refusal.type, refusal.code, { details: refusal.details, headers: refusal.headers });
}
