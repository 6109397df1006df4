// Builds the webhook body Meta would send for one inbound text message, so that Parley can be
// tried (and benchmarked) without a Meta app.
import { randomBytes } from 'node:crypto';
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
