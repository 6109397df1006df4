// Every proxy route Parley serves itself (or wraps around a forward), in match order. A path
// that none of them claims is forwarded to Meta unchanged (passthrough.ts).
import type { ProxyRoute } from './context.ts';

export const LOCAL_ROUTES: readonly ProxyRoute[] = [];
