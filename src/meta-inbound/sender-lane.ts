// Lanes let several inbound worker loops (on one node or many) share the queue without two of
// them ever holding bodies of the same sender at once: at acceptance each body is given the lane
// of its sender, and a loop works only on lanes it holds a transaction-scoped advisory lock on.
// One sender's bodies therefore commit in queue order, one loop at a time.
//
// The lane follows the user, not the (number, user) pair: a contact row is shared by all the
// numbers of a project, so two numbers' messages from one user belong to the same lane.
// A body that names several users (or none: account events) has no lane (NULL, "mixed"); so do
// bodies stored before migration 0012. A loop processes those only while it holds every lane,
// i.e. as the single worker of before, in queue order.
import type { MetaWebhookBody } from './payload.ts';

/** Lanes in the database; the same on every node (changing it needs an empty queue). */
export const SENDER_LANES = 32;

/** The advisory-lock class of lane locks (first key of the two-integer form). */
export const LANE_LOCK_CLASS = 0x1a9e;

const digitsOnly = (value: unknown): string | null => {
  if (typeof value !== 'string') return null;
  const digits = value.replace(/\D/g, '');
  return digits === '' ? null : digits;
};
const nonEmpty = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** FNV-1a over the UTF-16 units: cheap, stable across nodes and versions. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The user a message or status is about, as the worker will look them up (number first). */
function userOf(waId: unknown, bsuid: unknown): string | null {
  const number = digitsOnly(waId);
  if (number) return `w:${number}`;
  const scoped = nonEmpty(bsuid);
  return scoped ? `b:${scoped}` : null;
}

/**
 * The lane of a parsed body: that of its one user, or null when it names none or several.
 * Never throws on odd input (acceptance must not fail on a body the worker will judge).
 */
export function laneOf(body: unknown): number | null {
  let user: string | null = null;
  const entries = (body as MetaWebhookBody | null)?.entry;
  if (!Array.isArray(entries)) return null;
  for (const entry of entries) {
    const changes = entry?.changes;
    if (!Array.isArray(changes)) return null;
    for (const change of changes) {
      const value = change?.value;
      if (change?.field !== 'messages' || !value) return null;
      const contacts = Array.isArray(value.contacts) ? value.contacts : [];
      const found: (string | null)[] = [];
      if (value.messages != null) {
        if (!Array.isArray(value.messages)) return null;
        for (const message of value.messages) {
          // A system message (number change) moves an identity: its user is ambiguous.
          if (message?.type === 'system') return null;
          found.push(userOf(message?.from ?? (contacts.length === 1 ? contacts[0]?.wa_id : undefined), message?.from_user_id));
        }
      }
      if (value.statuses != null) {
        if (!Array.isArray(value.statuses)) return null;
        for (const status of value.statuses) found.push(userOf(status?.recipient_id, status?.recipient_user_id));
      }
      for (const one of found) {
        if (one === null || (user !== null && user !== one)) return null;
        user = one;
      }
    }
  }
  return user === null ? null : hash(user) % SENDER_LANES;
}
