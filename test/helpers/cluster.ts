// Several real `parley serve` processes on one database, the way Parley is deployed behind a
// load balancer: same DATABASE_URL, same PARLEY_SECRET_KEY, same Meta app secret. `next()`
// hands out the live nodes round-robin, as a balancer would; a node stopped with `stop()` is
// left out from then on.
import { randomBytes } from 'node:crypto';
import { signBody } from '../../src/meta-inbound/signature.ts';
import { TEST_META_APP_SECRET } from './app.ts';
import { type Exit, makeDataDir, type ServerProcess, startParley, stopParley } from './process.ts';

export interface ClusterOptions {
  databaseUrl: string;
  /** More settings for every node (they override the defaults below). */
  env?: Record<string, string>;
}

export interface Cluster {
  /** Every node started, in start order (stopped ones included). */
  readonly nodes: ServerProcess[];
  /** The settings every node was started with. */
  readonly env: Record<string, string>;
  /** The nodes still running. */
  live(): ServerProcess[];
  /** The next live node, round-robin. */
  next(): ServerProcess;
  /** Stops one node (SIGTERM: a graceful stop; SIGKILL: a crash) and leaves it out of `next()`. */
  stop(node: ServerProcess, signal?: NodeJS.Signals): Promise<Exit>;
  /** Starts one more node with the same settings. */
  add(): Promise<ServerProcess>;
}

/** The settings nodes of one cluster share; each node gets a free port of its own. */
export function clusterEnv(options: ClusterOptions): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    PORT: '0',
    PARLEY_SECRET_KEY: randomBytes(32).toString('hex'),
    PARLEY_META_APP_SECRET: TEST_META_APP_SECRET,
    PARLEY_DATA_DIR: makeDataDir(),
    PARLEY_RATE_LIMIT: '1000000',
    ...options.env,
  };
}

/** Starts `count` nodes at the same time on one database and waits until all of them listen. */
export async function startCluster(count: number, options: ClusterOptions): Promise<Cluster> {
  const env = clusterEnv(options);
  const nodes = await Promise.all(Array.from({ length: count }, () => startParley(env)));
  const stopped = new Set<ServerProcess>();
  let turn = 0;
  const live = () => nodes.filter((node) => !stopped.has(node) && node.child.exitCode === null && node.child.signalCode === null);
  return {
    nodes,
    env,
    live,
    next() {
      const running = live();
      if (running.length === 0) throw new Error('no node of the cluster is running');
      turn += 1;
      return running[turn % running.length]!;
    },
    async stop(node, signal = 'SIGTERM') {
      stopped.add(node);
      return stopParley(node, signal);
    },
    async add() {
      const node = await startParley(env);
      nodes.push(node);
      return node;
    },
  };
}

export interface NodeResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/**
 * One HTTP request to a node on a fresh connection (a stopping node closes kept-alive sockets).
 * A JSON `body` is sent as `application/json` unless `headers` name another content type.
 */
export async function call(
  node: { url: string },
  path: string,
  options: { method?: string; key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<NodeResponse> {
  const headers: Record<string, string> = { connection: 'close', ...(options.headers ?? {}) };
  if (options.key) headers['x-api-key'] = options.key;
  let payload: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${node.url}${path}`, { method: options.method ?? 'GET', headers, body: payload, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** POSTs a Meta webhook body to a node, signed with the cluster's app secret. */
export function postSigned(node: { url: string }, body: unknown): Promise<NodeResponse> {
  const raw = JSON.stringify(body);
  return call(node, '/webhooks/meta', {
    method: 'POST',
    rawBody: raw,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, TEST_META_APP_SECRET) },
  });
}
