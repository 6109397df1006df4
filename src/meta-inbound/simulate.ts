// Builds the webhook body Meta would send for one inbound text message, so that Parley can be
// tried (and benchmarked) without a Meta app; and reads back what the server made of it.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { MetaWebhookBody } from './payload.ts';

export interface SimulatedInbound {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  from?: string;
  bsuid?: string;
  name?: string;
  text: string;
  /** Unix seconds; now by default. */
  timestamp?: number;
  wamid?: string;
}

export function inboundTextBody(input: SimulatedInbound): MetaWebhookBody {
  const wamid = input.wamid ?? `wamid.${randomBytes(18).toString('base64url')}`;
  const timestamp = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  const contact: Record<string, unknown> = { profile: { name: input.name ?? 'Simulated user' }, wa_id: input.from ?? '' };
  if (input.bsuid) contact.user_id = input.bsuid;
  const message: Record<string, unknown> = { from: input.from ?? '', id: wamid, timestamp, type: 'text', text: { body: input.text } };
  if (input.bsuid) message.from_user_id = input.bsuid;
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '0',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: input.displayPhoneNumber ?? input.phoneNumberId, phone_number_id: input.phoneNumberId },
              contacts: [contact as never],
              messages: [message as never],
            },
          },
        ],
      },
    ],
  };
}

export interface SimulatedOutcome {
  state: 'pending' | 'processed' | 'skipped' | 'failed' | 'missing';
  note: string | null;
  attempts: number;
}

/**
 * What became of a body the server stored, read from the database: the newest stored event with
 * exactly this body (the body names a fresh wamid, so it is this one). Waits until it is no
 * longer pending or `timeoutMs` has passed; `missing` when this database holds no such event.
 */
export async function awaitOutcome(db: Kysely<Database>, body: string, timeoutMs: number, pollMs = 100): Promise<SimulatedOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await db.selectFrom('meta_events').select(['state', 'note', 'attempts']).where('body', '=', body).orderBy('id', 'desc').limit(1).executeTakeFirst();
    // The server answers only once the body is committed: no row means another database.
    if (!row) return { state: 'missing', note: null, attempts: 0 };
    if (row.state !== 'pending' || Date.now() > deadline) return { state: row.state, note: row.note, attempts: row.attempts };
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
