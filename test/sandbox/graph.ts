// Calls to the stand-in Graph API over real HTTP (undici's fetch), for the sandbox tests.
import { type StandInGraph } from '../../src/sandbox/graph-server.ts';

export const TOKEN = 'EAAG-sandbox-test-token';
export const PNID = '106540352242922';

export interface GraphAnswer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function call(graph: StandInGraph, method: string, path: string, options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {}): Promise<GraphAnswer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${graph.url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

export function sendText(graph: StandInGraph, to: string, text = 'hello', extra: Record<string, unknown> = {}) {
  return call(graph, 'POST', `/v23.0/${PNID}/messages`, { body: { messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: text }, ...extra } });
}

/** Asserts a Meta-shaped error and returns its `error` object. */
export function metaError(answer: GraphAnswer): { message: string; type: string; code: number; error_subcode?: number; error_data?: { messaging_product: string; details: string }; fbtrace_id: string } {
  if (!/application\/json/.test(answer.headers.get('content-type') ?? '')) throw new Error(`not JSON: ${answer.headers.get('content-type')}`);
  const error = answer.body?.error;
  if (!error || typeof error.message !== 'string' || typeof error.type !== 'string' || typeof error.code !== 'number' || typeof error.fbtrace_id !== 'string') {
    throw new Error(`not a Meta error body: ${answer.text}`);
  }
  return error;
}
