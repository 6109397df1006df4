// The one send path. A message sent through the proxy and one sent for a broadcast recipient
// both end here: the marketing check (templates only), the forward to Meta with the number's
// token, and the recording of what Meta accepted in the same tables as inbound traffic. Meta's
// answer is the caller's answer, whatever happens to the recording after Meta accepted.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../db/errors.ts';
import type { Database } from '../db/schema.ts';
import { ApiError, badRequest } from '../http/errors.ts';
import { upsertContact } from '../meta-inbound/contacts.ts';
import { MARKETING_STOPPED_ERROR } from '../meta-inbound/processor.ts';
import { recordPreference } from '../marketing-preferences/ingest-repo.ts';
import { type GraphClient, GraphUnavailableError } from '../meta-graph/client.ts';
import type { PhoneNumberWithToken } from '../phone-numbers/repo.ts';
import { MARKETING, type TemplateCatalog } from '../templates/service.ts';
import { acceptedWamid, isReadReceipt, outboundRecord, requestedRecipient, templateOf } from './outbound.ts';
import type { OutboundRecorder } from './recorder.ts';
import { marketingStopped, type RecordedMessage } from './repo.ts';

export interface SendDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  logger: Logger;
  templates: TemplateCatalog;
  /** Writes the accepted sends, batched per node (one recorder per node). */
  recorder: OutboundRecorder;
  /** The time recorded as the message's; tests move it. */
  now?: () => Date;
}

export interface SendInput {
  projectId: string;
  /** The sending number, with its sealed token (resolved by the caller for this project). */
  number: PhoneNumberWithToken;
  /** Graph API version to send with. */
  version: string;
  /** The send body, parsed. */
  body: unknown;
  /** The body's bytes as the client sent them; forwarded as they are when given. */
  rawBody?: Buffer;
}

export interface SendResult {
  /** Meta's status. */
  status: number;
  /** Meta's JSON answer (`{success:true}` for a read receipt Meta accepted). */
  body: unknown;
  /** The same as text: Meta's bytes, for answering verbatim. */
  text: string;
  /** Meta's Retry-After, when it gave one. */
  retryAfter?: string;
  /** The stored outbound message; null when nothing was stored (refused, receipt, or not recordable). */
  recorded: RecordedMessage | null;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

export function marketingRefusal(template: string): ApiError {
  const message = `Template "${template}" is a marketing template and this contact has stopped marketing messages from this number`;
  return new ApiError(422, message, { body: { error: message, code: 'marketing_preference_stopped' } });
}

/** Refuses a MARKETING template to a person who stopped marketing from this number; anything else passes. */
async function checkMarketing(deps: SendDeps, input: SendInput, body: Json): Promise<void> {
  const template = templateOf(body);
  if (template === null) return;
  const { projectId, number } = input;
  const waba = number.business_account_id;
  const held = deps.templates.memoized(projectId, waba, template.name, template.language);
  // The usual case, a utility or authentication template seen in the last minute: no I/O at all.
  if (held !== undefined && held !== MARKETING) return;
  const [cached, stopped] = await Promise.all([
    held ?? deps.templates.cachedCategory(projectId, waba, template.name, template.language),
    marketingStopped(deps.db, projectId, number.phone_number_id, requestedRecipient(body)),
  ]);
  if (!stopped) return;
  // Meta is asked only for a person who stopped marketing and a template we do not know yet.
  const category = cached ?? (await deps.templates.fetchCategory(projectId, number, template.name, template.language));
  if (category === MARKETING) throw marketingRefusal(template.name);
}

async function recordAccepted(deps: SendDeps, input: SendInput, body: Json, answer: Json, wamid: string): Promise<RecordedMessage | null> {
  const { projectId, number } = input;
  const businessNumber = number.display_phone_number?.replace(/\D/g, '') || number.phone_number_id;
  const record = outboundRecord(body, answer, wamid, deps.now?.() ?? new Date(), businessNumber);
  if (record === null) {
    deps.logger.error({ wamid, phone_number_id: number.phone_number_id }, 'message accepted by Meta names no recipient Parley can store; it is not recorded');
    return null;
  }
  return deps.recorder.record(projectId, number, record);
}

/** Meta refused with 131050: the person stopped marketing messages; remembered for the next send. */
async function recordSynchronousStop(deps: SendDeps, input: SendInput, body: Json, error: Json): Promise<void> {
  const recipient = requestedRecipient(body);
  const { projectId, number } = input;
  try {
    await deps.db.transaction().execute(async (tx) => {
      const contact = await upsertContact(tx, projectId, { waId: recipient.waId, bsuid: recipient.bsuid, parentBsuid: null, username: null, profileName: null });
      if (!contact) return;
      const detail = isObject(error.error_data) && typeof error.error_data.details === 'string' ? error.error_data.details : typeof error.message === 'string' ? error.message : null;
      await recordPreference(tx, {
        projectId,
        contactId: contact.id,
        phoneNumberId: number.phone_number_id,
        status: 'stopped',
        detail,
        source: 'meta_synchronous_error',
        at: deps.now?.() ?? new Date(),
      });
    });
  } catch (failure) {
    deps.logger.error({ project_id: projectId, phone_number_id: number.phone_number_id, cause: describeError(failure) }, 'could not record the marketing stop Meta reported (131050)');
  }
}

export async function sendMessage(deps: SendDeps, input: SendInput): Promise<SendResult> {
  const body = input.body;
  if (!isObject(body)) throw badRequest('The message must be a JSON object');
  const receipt = isReadReceipt(body);
  if (!receipt) await checkMarketing(deps, input, body);

  const bytes = input.rawBody ?? Buffer.from(JSON.stringify(body));
  const reply = await deps.graph.call({
    method: 'POST',
    version: input.version,
    path: `${encodeURIComponent(input.number.phone_number_id)}/messages`,
    sealedToken: input.number.access_token_sealed,
    contentType: 'application/json',
    contentLength: bytes.length,
    body: bytes,
  });
  const text = await reply.body.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new GraphUnavailableError('unreachable', `The Graph API answered the send with HTTP ${reply.status} and a body that is not JSON`);
  }
  const retryAfter = typeof reply.headers['retry-after'] === 'string' ? reply.headers['retry-after'] : undefined;
  const result: SendResult = { status: reply.status, body: answer, text, retryAfter, recorded: null };
  const accepted = reply.status >= 200 && reply.status < 300;

  if (receipt) {
    return accepted ? { ...result, body: { success: true }, text: '{"success":true}' } : result;
  }
  if (accepted) {
    const wamid = acceptedWamid(answer);
    if (wamid !== null && isObject(answer)) result.recorded = await recordAccepted(deps, input, body, answer, wamid);
    return result;
  }
  const error = isObject(answer) && isObject(answer.error) ? answer.error : null;
  if (error !== null && error.code === MARKETING_STOPPED_ERROR) await recordSynchronousStop(deps, input, body, error);
  return result;
}
