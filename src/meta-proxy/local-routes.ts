// Every proxy route Parley serves itself (or wraps around a forward), in match order. A path
// that none of them claims is forwarded to Meta unchanged (passthrough.ts).
import type { ProxyRoute } from './context.ts';
import { contactRoutes } from './contacts.ts';
import { conversationRoutes } from './conversations.ts';
import { historyRoutes } from './history.ts';
import { mediaRoutes } from './media.ts';
import { sendRoutes } from './sends.ts';
import { templateRoutes } from './templates.ts';

export const LOCAL_ROUTES: readonly ProxyRoute[] = [
  ...sendRoutes,
  ...templateRoutes,
  ...historyRoutes,
  ...conversationRoutes,
  ...contactRoutes,
  // Last: its `:object` pattern catches every media, flow or template id.
  ...mediaRoutes,
];
