// Shared set-up of the send tests: an app whose Graph API is the stand-in, a connected number,
// and short ways to send through the proxy and read what Parley recorded.
import assert from 'node:assert/strict';
import { type StandInGraph, startStandInGraph } from '../../src/sandbox/graph-server.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber } from '../helpers/meta.ts';

export const NUMBER_TOKEN = 'EAAG-test-token';

export const OUTBOX_EVENTS = ['whatsapp.conversation.created', 'whatsapp.message.sent', 'whatsapp.message.delivered', 'whatsapp.message.read', 'whatsapp.message.failed'];

export interface SendWorld {
  t: TestApp;
  graph: StandInGraph;
  number: ConnectedNumber;
  projectId: string;
  /** Every proxy and platform answer of the file, for the token-leak check. */
  answers: TestResponse[];
  send(body: Record<string, unknown>, options?: { key?: string; phoneNumberId?: string }): Promise<TestResponse>;
  /** The Platform API's messages of the number, newest first. */
  messages(query?: string): Promise<any[]>;
  /** Outbox events of the project, oldest first (phone-number events left out). */
  events(): Promise<{ event: string; subject: Record<string, unknown> }[]>;
  /** Calls the stand-in received for sends (POST …/messages). */
  sendCalls(): number;
  close(): Promise<void>;
}

export async function sendWorld(): Promise<SendWorld> {
  const graph = await startStandInGraph({ statusDelayMs: 0 });
  const t = await startTestApp({ metaGraphUrl: graph.url });
  const number = await connectNumber(t);
  // Events are written to the outbox only for a webhook that subscribes to them (its URL is never called here).
  const hook = await t.request({
    method: 'POST',
    url: `/platform/v1/whatsapp/phone_numbers/${number.phoneNumberId}/webhooks`,
    body: { whatsapp_webhook: { url: 'http://127.0.0.1:9/hook', secret_key: 'wh_sec_sending', events: [...OUTBOX_EVENTS] } },
  });
  assert.equal(hook.status, 201, hook.text);
  const row = await t.database.db.selectFrom('phone_numbers').select('project_id').where('phone_number_id', '=', number.phoneNumberId).executeTakeFirstOrThrow();
  const answers: TestResponse[] = [];
  const keep = (response: TestResponse) => {
    answers.push(response);
    return response;
  };
  return {
    t,
    graph,
    number,
    projectId: row.project_id,
    answers,
    send: async (body, options = {}) =>
      keep(
        await t.request({
          method: 'POST',
          url: `/meta/whatsapp/v23.0/${options.phoneNumberId ?? number.phoneNumberId}/messages`,
          key: options.key,
          body: { messaging_product: 'whatsapp', recipient_type: 'individual', ...body },
        }),
      ),
    messages: async (query = '') => {
      const response = keep(await t.request({ method: 'GET', url: `/platform/v1/whatsapp/messages?phone_number_id=${number.phoneNumberId}${query}` }));
      assert.equal(response.status, 200, response.text);
      return response.body.data;
    },
    events: async () =>
      (await t.database.db
        .selectFrom('webhook_events')
        .select(['event', 'subject'])
        .where('project_id', '=', row.project_id)
        .where('event', 'not like', 'whatsapp.phone_number.%')
        .orderBy('created_at')
        .orderBy('id')
        .execute()) as { event: string; subject: Record<string, unknown> }[],
    sendCalls: () => graph.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages')).length,
    close: async () => {
      await t.close();
      await graph.close();
    },
  };
}
