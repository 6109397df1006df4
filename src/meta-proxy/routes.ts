// /meta/whatsapp: the Meta-compatible proxy. A call below `/{version}/` is authenticated with a
// Parley key, its path is resolved to a connected number of the key's project, and then it is
// either served from Parley's own data (the routes in LOCAL_ROUTES) or forwarded to the Graph API
// with that number's token.
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AuthOptions, requireApiKey } from '../http/auth.ts';
import { GRAPH_VERSION } from '../meta-graph/client.ts';
import { compileRoutes, type ProxyContext, type ProxyDeps, type ProxyRoute, matchRoute } from './context.ts';
import { MetaError, metaErrorHandler } from './errors.ts';
import { forward } from './passthrough.ts';
import { resolveTarget } from './target.ts';

export const PROXY_PREFIX = '/meta/whatsapp';
const JSON_LIMIT = 1024 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    /** The bytes of a JSON body on the proxy, forwarded as they came. */
    proxyRawBody: Buffer | undefined;
    /** A body of another type on the proxy, left unread for streaming. */
    proxyStream: Readable | undefined;
  }
}

/** First segments that are served locally without naming a number (the SDK's unscoped conversation calls). */
const UNSCOPED_ROOTS = new Set(['conversations']);

export interface ProxyPluginOptions {
  deps: ProxyDeps;
  auth: Omit<AuthOptions, 'acceptBearer' | 'refuse'>;
  /** Routes served by Parley instead of forwarded, in match order. */
  routes: readonly ProxyRoute[];
  /** Extra Fastify routes in the proxy scope without the key check (media downloads by signed link). */
  publicRoutes?: (scope: FastifyInstance) => void | Promise<void>;
  /** Hooks added to the authenticated scope (the API log). */
  authenticatedScope?: (scope: FastifyInstance) => void;
}

const unsupported = (request: FastifyRequest) =>
  new MetaError(400, `Unsupported ${request.method.toLowerCase()} request. Object does not exist, cannot be loaded due to missing permissions, or does not support this operation`, 'GraphMethodException', 100, 33);

export async function metaProxyRoutes(app: FastifyInstance, options: ProxyPluginOptions): Promise<void> {
  const routes = compileRoutes(options.routes);
  const { deps } = options;

  app.setErrorHandler(metaErrorHandler);
  app.setNotFoundHandler((request, reply) =>
    metaErrorHandler(new MetaError(404, `Unknown path ${request.url.split('?')[0]}`, 'GraphMethodException', 100) as never, request, reply),
  );
  app.decorateRequest('proxyRawBody', undefined);
  app.decorateRequest('proxyStream', undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json'], { parseAs: 'buffer', bodyLimit: JSON_LIMIT }, (request, body: Buffer, done) => {
    request.proxyRawBody = body;
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch {
      done(new MetaError(400, 'Request body is not valid JSON', 'OAuthException', 100), undefined);
    }
  });
  // Anything else (multipart uploads, form posts) is left unread: the route streams or bounds it.
  app.addContentTypeParser('*', (request, payload, done) => {
    request.proxyStream = payload as unknown as Readable;
    done(null, undefined);
  });

  await options.publicRoutes?.(app);

  await app.register(async (authed) => {
    requireApiKey(authed, {
      ...options.auth,
      acceptBearer: true,
      refuse: (status, message, headers) => (status === 401 ? new MetaError(401, message, 'OAuthException', 190) : new MetaError(429, message, 'OAuthException', 4, undefined, headers)),
    });
    options.authenticatedScope?.(authed);

    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      const { version, '*': rest } = request.params as { version: string; '*': string };
      if (!GRAPH_VERSION.test(version)) throw new MetaError(400, `Unknown Graph API version "${version}"; use one such as v23.0`, 'GraphMethodException', 100);
      const segments = rest.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
      if (segments.length === 0) throw unsupported(request);
      const queryAt = request.url.indexOf('?');
      const ctx: ProxyContext = {
        request,
        reply,
        deps,
        projectId: request.auth.projectId,
        version,
        segments,
        path: segments.map(encodeURIComponent).join('/'),
        rawQuery: queryAt >= 0 ? request.url.slice(queryAt + 1) : '',
        query: (request.query ?? {}) as Record<string, unknown>,
        params: {},
        target: null,
        json: request.body,
        rawBody: request.proxyRawBody,
        stream: request.proxyStream,
      };
      if (!UNSCOPED_ROOTS.has(segments[0]!)) ctx.target = await resolveTarget(deps.db, ctx.projectId, segments, ctx.query);
      const matched = matchRoute(routes, request.method, segments, ctx.target);
      if (matched) {
        ctx.params = matched.params;
        const result = await matched.route.handler(ctx);
        if (!reply.sent && result !== undefined) await reply.type('application/json; charset=utf-8').send(JSON.stringify(result));
        return reply;
      }
      if (!ctx.target) throw unsupported(request);
      await forward(ctx, ctx.target);
      return reply;
    };
    authed.route({ method: ['GET', 'POST', 'DELETE', 'PATCH', 'PUT'], url: '/:version/*', schema: { hide: true }, handler: handle });
  });
}
