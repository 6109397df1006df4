// What the tests of the proxy's locally served routes share: an app whose Graph API is an upstream
// that records every call (these routes must never make one), numbers of two projects, and
// inbound messages delivered through the signed Meta webhook and the inbound worker.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { insertMessage } from '../../src/messages/ingest-repo.ts';
import { recordMessage } from '../../src/conversations/ingest-repo.ts';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.ts';
import { connectNumber, type ConnectedNumber, deliver, drain, statusBody, textBody, wamid } from '../helpers/meta.ts';

export const PUBLIC_URL = 'https://parley.example.test';

export interface RecordingUpstream {
  url: string;
  /** `METHOD /path?query` of every call that reached it. */
  seen: string[];
  close(): Promise<void>;
}

/** A Graph API that answers every call with an error and remembers it. */
export function recordingUpstream(): Promise<RecordingUpstream> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'the proxy forwarded a call it should have served', type: 'Test', code: 1 } }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        close: () => new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      }),
    ),
  );
}

export interface World {
  t: TestApp;
  meta: RecordingUpstream;
  /** Two numbers of the test project, one of the other project. */
  a: ConnectedNumber;
  b: ConnectedNumber;
  theirs: ConnectedNumber;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const meta = await recordingUpstream();
  const t = await startTestApp({ metaGraphUrl: meta.url, publicUrl: PUBLIC_URL });
  const a = await connectNumber(t);
  const b = await connectNumber(t);
  const theirs = await connectNumber(t, { key: t.otherKey });
  return {
    t,
    meta,
    a,
    b,
    theirs,
    async close() {
      await t.close();
      await meta.close();
    },
  };
}

/** A call below `/meta/whatsapp/v23.0/`; `key` defaults to the test project's. */
export function proxy(t: TestApp, path: string, options: { method?: 'GET' | 'PATCH' | 'POST' | 'DELETE' | 'PUT'; body?: unknown; key?: string } = {}): Promise<TestResponse> {
  return t.request({ method: options.method ?? 'GET', url: `/meta/whatsapp/v23.0/${path}`, body: options.body, ...(options.key ? { key: options.key } : {}) });
}

/** Follows an absolute paging link of ours through the same app. */
export function follow(t: TestApp, link: string): Promise<TestResponse> {
  assert.ok(link.startsWith(`${PUBLIC_URL}/meta/whatsapp/v23.0/`), `${link} is a link to Parley's proxy`);
  return t.request({ method: 'GET', url: link.slice(PUBLIC_URL.length) });
}

export interface Inbound {
  waId: string;
  name?: string;
  text?: string;
  at?: Date;
}

/** One inbound text through the signed webhook and the worker; returns its wamid. */
export async function inbound(t: TestApp, number: ConnectedNumber, message: Inbound): Promise<string> {
  const { body, wamid: id } = textBody(number.phoneNumberId, { waId: message.waId, name: message.name ?? 'Someone', text: message.text ?? 'hello', timestamp: message.at ?? new Date() });
  await deliver(t, body);
  await drain(t.database.db);
  return id;
}

/**
 * An outbound message in the conversation of `after` (an inbound wamid), stored with the ingest
 * functions the send path stores its messages with; Meta's status webhooks then move it on as
 * for any sent message.
 */
export async function outbound(t: TestApp, number: ConnectedNumber, after: string, text: string, status?: 'delivered' | 'read'): Promise<string> {
  const db = t.database.db;
  const source = await db.selectFrom('messages').select(['project_id', 'conversation_id', 'contact_id']).where('wamid', '=', after).executeTakeFirstOrThrow();
  const contact = await db.selectFrom('contacts').select('wa_id').where('id', '=', source.contact_id).executeTakeFirstOrThrow();
  const id = wamid();
  const at = new Date();
  await db.transaction().execute(async (tx) => {
    await insertMessage(tx, {
      projectId: source.project_id,
      wamid: id,
      conversationId: source.conversation_id,
      contactId: source.contact_id,
      phoneNumberId: number.phoneNumberId,
      direction: 'outbound',
      type: 'text',
      status: 'sent',
      sentAt: at,
      payload: { type: 'text', text: { body: text } },
      hasMedia: false,
      content: text,
    });
    await recordMessage(tx, source.conversation_id, { wamid: id, type: 'text', at, text, direction: 'outbound' });
  });
  if (status) {
    await deliver(t, statusBody(number.phoneNumberId, status, { wamid: id, waId: contact.wa_id!, at }));
    await drain(db);
  }
  return id;
}

export const minutesAgo = (minutes: number, from = Date.now()) => new Date(Math.floor(from / 1000) * 1000 - minutes * 60_000);
