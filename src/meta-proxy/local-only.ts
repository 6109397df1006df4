// Paths the proxy serves from Parley's store are never forwarded, whatever the method: a method
// Parley does not serve there is refused as Meta refuses one, instead of reaching Meta with the
// number's token.
import type { ProxyRoute } from './context.ts';
import { unsupported } from './routes.ts';

const METHODS = ['GET', 'POST', 'DELETE', 'PATCH', 'PUT'];

/** Refusing routes for every method on these patterns; list them after the routes that serve. */
export function unsupportedHere(patterns: readonly string[]): ProxyRoute[] {
  return patterns.flatMap((pattern) =>
    METHODS.map((method) => ({
      method,
      pattern,
      handler: async (ctx) => {
        throw unsupported(ctx.request);
      },
    })),
  );
}
