// Which Graph API object and edge a path names, and the answer. Ids are told apart the way a
// caller cannot: by what the stand-in holds (a media object, a template, a flow, a WABA), and
// any other numeric id is a phone number.
import type { IncomingMessage } from 'node:http';
import type { Accounts } from './accounts.ts';
import { GraphError, invalidParameter, unsupported } from './graph-errors.ts';
import type { MediaStore } from './media-store.ts';
import { acceptSend, type AcceptedSend } from './messages.ts';
import { boundaryOf, readMultipart } from './multipart.ts';
import type { TemplateStore } from './templates.ts';

export interface RouteContext {
  method: string;
  version: string;
  segments: string[];
  query: URLSearchParams;
  token: string;
  req: IncomingMessage;
  /** The parsed body (JSON, form or text); undefined for streamed uploads and bodiless calls. */
  body: unknown;
  /** Sets what `requests` records as the body of a streamed upload. */
  noteBody(note: unknown): void;
}

export interface RouteServices {
  accounts: Accounts;
  media: MediaStore;
  templates: TemplateStore;
  strictTemplates: boolean;
  /** This server's own origin, for media URLs. */
  base(): string;
  accepted(send: AcceptedSend, phoneNumberId: string): void;
}

export interface Answer {
  status: number;
  body: unknown;
}

const ok = (body: unknown): Answer => ({ status: 200, body });
const SUCCESS = { success: true };
const WABA_EDGES = new Set(['message_templates', 'flows', 'phone_numbers', 'subscribed_apps']);
const FLOW_EDGES = new Set(['assets', 'publish', 'deprecate']);
const NUMERIC = /^\d{5,20}$/;

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

export function isWaba(services: RouteServices, id: string): boolean {
  return services.accounts.wabas.has(id) || services.templates.wabaIds().includes(id);
}

/** The id whose token a call must carry: a number, or the WABA an object belongs to. */
export function ownerOf(services: RouteServices, id: string): string {
  const media = services.media.get(id);
  if (media) return media.phoneNumberId ?? id;
  const template = services.templates.find(id);
  if (template) return template.waba;
  const flow = services.accounts.flows.get(id);
  if (flow) return flow.wabaId;
  return id;
}

async function uploadMedia(ctx: RouteContext, services: RouteServices, pnid: string): Promise<Answer> {
  const boundary = boundaryOf(ctx.req.headers['content-type']);
  if (!boundary) throw invalidParameter('media uploads must be multipart/form-data with a boundary');
  const object = await services.media.upload(ctx.req, boundary, pnid, (result) => ctx.noteBody({ multipart: true, bytes: result.bytes, fields: result.fields, files: result.files }));
  return ok({ id: object.id });
}

async function uploadFlowAsset(ctx: RouteContext): Promise<Answer> {
  const boundary = boundaryOf(ctx.req.headers['content-type']);
  if (!boundary) throw invalidParameter('flow assets must be multipart/form-data with a boundary');
  let bytes = 0;
  const result = await readMultipart(ctx.req, boundary, () => ({ write: (chunk) => void (bytes += chunk.length), end: async () => undefined }));
  ctx.noteBody({ multipart: true, bytes: result.bytes, fields: result.fields, files: result.files });
  if (result.files.length === 0 || bytes === 0) throw new GraphError(400, '(#100) The parameter file is required.', 'OAuthException', 100);
  return ok(SUCCESS);
}

function numberEdge(ctx: RouteContext, services: RouteServices, pnid: string, edge: string): Promise<Answer> | Answer {
  const { method } = ctx;
  const number = services.accounts.number(pnid);
  if (method === 'POST' && (edge === 'messages' || edge === 'marketing_messages')) {
    const strict = services.strictTemplates ? (name: string, language: string) => services.templates.has(number.wabaId, name, language) : null;
    const send = acceptSend(ctx.body, strict);
    if (send.kind === 'message') services.accepted(send, pnid);
    return ok(send.answer);
  }
  if (method === 'POST' && edge === 'media') return uploadMedia(ctx, services, pnid);
  if (edge === 'whatsapp_business_profile') {
    if (method === 'GET') return ok({ data: [{ messaging_product: 'whatsapp', ...number.profile }] });
    if (method === 'POST') {
      if (!isObject(ctx.body) || ctx.body.messaging_product !== 'whatsapp') throw new GraphError(400, '(#100) The parameter messaging_product is required.', 'OAuthException', 100);
      const { messaging_product: _product, ...profile } = ctx.body;
      Object.assign(number.profile, profile);
      return ok(SUCCESS);
    }
  }
  if (method === 'POST' && (edge === 'register' || edge === 'deregister')) {
    if (edge === 'register' && !(isObject(ctx.body) && typeof ctx.body.pin === 'string' && /^\d{6}$/.test(ctx.body.pin))) throw invalidParameter('pin must be six digits');
    number.registered = edge === 'register';
    return ok(SUCCESS);
  }
  if (method === 'POST' && edge === 'request_code') return ok(SUCCESS);
  if (method === 'POST' && edge === 'verify_code') {
    if (!(isObject(ctx.body) && typeof ctx.body.code === 'string' && /^\d{6}$/.test(ctx.body.code))) throw invalidParameter('code must be the six digits sent to the number');
    return ok(SUCCESS);
  }
  if (edge === 'settings') {
    if (method === 'GET') return ok(number.settings);
    if (method === 'POST') {
      if (isObject(ctx.body)) Object.assign(number.settings, ctx.body);
      return ok(SUCCESS);
    }
  }
  if (method === 'POST' && edge === 'calls') {
    const action = isObject(ctx.body) ? ctx.body.action : undefined;
    if (typeof action !== 'string') throw new GraphError(400, '(#100) The parameter action is required.', 'OAuthException', 100);
    if (action === 'connect') return ok({ messaging_product: 'whatsapp', calls: [{ id: `wacid.${Buffer.from(`${Date.now()}${Math.random()}`).toString('base64')}` }] });
    return ok({ messaging_product: 'whatsapp', success: true });
  }
  if (method === 'GET' && edge === 'call_permissions') {
    if (!ctx.query.get('user_wa_id')) throw new GraphError(400, '(#100) The parameter user_wa_id is required.', 'OAuthException', 100);
    return ok({
      messaging_product: 'whatsapp',
      permission: { status: 'no_permission' },
      actions: [
        { action_name: 'send_call_permission_request', can_perform_action: true, limits: [{ time_period: 'PT24H', max_allowed: 1, current_usage: 0 }] },
        { action_name: 'start_call', can_perform_action: false, limits: [] },
      ],
    });
  }
  throw unsupported(method, `${pnid}/${edge}`);
}

function wabaEdge(ctx: RouteContext, services: RouteServices, waba: string, edge: string): Answer {
  const { method, query } = ctx;
  services.accounts.waba(waba);
  if (edge === 'message_templates') {
    if (method === 'GET') return ok(services.templates.page(waba, query, ctx.version, ctx.token));
    if (method === 'POST') return ok(services.templates.create(waba, ctx.body));
    if (method === 'DELETE') return ok(services.templates.delete(waba, query));
  }
  if (edge === 'flows') {
    if (method === 'GET') return ok(services.accounts.flowsOf(waba));
    if (method === 'POST') {
      if (!isObject(ctx.body) || typeof ctx.body.name !== 'string' || ctx.body.name === '') throw new GraphError(400, '(#100) The parameter name is required.', 'OAuthException', 100);
      if (ctx.body.flow_json !== undefined && typeof ctx.body.flow_json !== 'string') throw invalidParameter('flow_json must be a string of JSON');
      return ok(services.accounts.createFlow(waba, ctx.body));
    }
  }
  if (method === 'GET' && edge === 'phone_numbers') return ok(services.accounts.numbersOf(waba, query.get('fields')));
  if (edge === 'subscribed_apps') {
    if (method === 'GET') return ok(services.accounts.subscribedApps(waba));
    if (method === 'POST' || method === 'DELETE') {
      services.accounts.waba(waba).subscribed = method === 'POST';
      return ok(SUCCESS);
    }
  }
  throw unsupported(method, `${waba}/${edge}`);
}

function flowEdge(ctx: RouteContext, services: RouteServices, flowId: string, edge: string): Promise<Answer> | Answer {
  const flow = services.accounts.flows.get(flowId);
  if (!flow) throw unsupported(ctx.method, flowId);
  if (edge === 'assets' && ctx.method === 'POST') return uploadFlowAsset(ctx);
  if (edge === 'assets' && ctx.method === 'GET') {
    return ok({ data: [{ name: 'flow.json', asset_type: 'FLOW_JSON', download_url: `${services.base()}/flow-assets/${flow.id}/flow.json` }], paging: { cursors: { before: 'QVFIUm', after: 'QVFIUm' } } });
  }
  if (ctx.method === 'POST' && edge === 'publish') {
    if (flow.status === 'DEPRECATED') throw invalidParameter('a deprecated flow cannot be published');
    flow.status = 'PUBLISHED';
    return ok(SUCCESS);
  }
  if (ctx.method === 'POST' && edge === 'deprecate') {
    if (flow.status !== 'PUBLISHED') throw invalidParameter('only a published flow can be deprecated');
    flow.status = 'DEPRECATED';
    return ok(SUCCESS);
  }
  throw unsupported(ctx.method, `${flowId}/${edge}`);
}

function object(ctx: RouteContext, services: RouteServices, id: string): Answer {
  const { method } = ctx;
  const fields = ctx.query.get('fields');
  const media = services.media.get(id);
  if (media) {
    if (method === 'GET') return ok(services.media.describe(media, services.base()));
    if (method === 'DELETE') {
      services.media.remove(id);
      return ok(SUCCESS);
    }
  }
  const template = services.templates.find(id);
  if (template) {
    if (method === 'GET') return ok(template.template);
    if (method === 'POST') return ok(services.templates.edit(id, ctx.body));
  }
  const flow = services.accounts.flows.get(id);
  if (flow) {
    if (method === 'GET') return ok(services.accounts.describeFlow(flow, fields));
    if (method === 'POST') {
      if (isObject(ctx.body) && typeof ctx.body.name === 'string') flow.name = ctx.body.name;
      return ok(SUCCESS);
    }
    if (method === 'DELETE') {
      if (flow.status !== 'DRAFT') throw invalidParameter('only a draft flow can be deleted');
      services.accounts.flows.delete(id);
      return ok(SUCCESS);
    }
  }
  if (!media && !template && !flow) {
    if (method === 'GET' && isWaba(services, id)) return ok(services.accounts.describeWaba(id, fields));
    if (method === 'GET' && NUMERIC.test(id)) return ok(services.accounts.describeNumber(id, fields));
    if (method === 'POST' && NUMERIC.test(id) && !isWaba(services, id)) {
      services.accounts.number(id);
      return ok(SUCCESS);
    }
  }
  throw unsupported(method, id);
}

/** Answers a versioned call (`segments` are the path below the version). */
export async function route(ctx: RouteContext, services: RouteServices): Promise<Answer> {
  const [first, edge, third] = ctx.segments;
  if (first === undefined) throw unsupported(ctx.method, '');
  if (edge === undefined) return object(ctx, services, first);
  if (third !== undefined) {
    if (ctx.method === 'GET' && edge === 'message_templates' && ctx.segments.length === 3) {
      const found = services.templates.find(third);
      if (found && found.waba === first) return ok(found.template);
      throw unsupported(ctx.method, third);
    }
    throw unsupported(ctx.method, ctx.segments.join('/'));
  }
  if (WABA_EDGES.has(edge) && (isWaba(services, first) || edge !== 'flows')) return wabaEdge(ctx, services, first, edge);
  if (FLOW_EDGES.has(edge)) return flowEdge(ctx, services, first, edge);
  if (!NUMERIC.test(first)) throw unsupported(ctx.method, first);
  return numberEdge(ctx, services, first, edge);
}
