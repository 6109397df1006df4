// Summarises the V8 CPU profile(s) that `BENCH_CPU_PROF=1 npm run bench` writes for Parley:
// self time by package/module, by stage of a request (the innermost frame of the stack that names
// one: a hook, validation, the key check, the pg driver, …) and the top functions. Usage: node --import tsx bench/profile-summary.ts DIR|FILE [TOP]
import fs from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/** Stages of a request, tested from the sample's own frame outwards; the first frame that matches decides. */
const STAGES: [string, (url: string) => boolean][] = [
  ['API log hook', (u) => u.includes('src/api-logs/hook.ts')],
  ['API log writer', (u) => u.includes('src/api-logs/recorder.ts') || u.includes('src/api-logs/repo.ts')],
  ['metrics + request log hook', (u) => u.includes('src/metrics/') || u.includes('prom-client') || u.includes('src/app.ts')],
  ['NUL check', (u) => u.includes('src/http/nul-character.ts')],
  ['key check + rate limit', (u) => u.includes('src/http/auth.ts') || u.includes('src/projects/')],
  ['validation (ajv)', (u) => u.includes('node_modules/ajv') || u.includes('fastify/lib/validation')],
  ['serialisation', (u) => u.includes('fast-json-stringify')],
  ['body parsing', (u) => u.includes('secure-json-parse') || u.includes('fastify/lib/content-type-parser')],
  ['contacts routes/service/repo (phone parsing too)', (u) => u.includes('src/contacts/') || u.includes('libphonenumber')],
  ['kysely (queries not on the GET/PATCH path)', (u) => u.includes('node_modules/kysely')],
  ['pino', (u) => u.includes('node_modules/pino')],
  ['pg driver', (u) => /node_modules\/(pg|pg-protocol|pg-pool|pg-types)\//.test(u)],
  ['fastify core + router', (u) => u.includes('node_modules/fastify') || u.includes('find-my-way') || u.includes('avvio') || u.includes('light-my-request')],
  ['node http', (u) => u.startsWith('node:_http')],
  ['module loading (start-up)', (u) => u.includes('node:internal/modules/') || u.includes('node_modules/tsx')],
];
/** Native socket writes: their self time includes the kernel's loopback delivery and any preemption inside the call. */
const WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String']);

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const target = process.argv[2];
const top = Number(process.argv[3] ?? 30);
if (!target) throw new Error('usage: profile-summary.ts DIR|FILE [TOP]');
const files = fs.statSync(target).isDirectory() ? fs.readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(target, f)) : [target];

/** Parley runs compiled (dist/…/x.js): named by the source file it came from. */
const sourceUrl = (url: string) => url.replace(/\/dist\/(.+)\.js$/, '/src/$1.ts');

function moduleOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native/V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  const src = /\/(src\/.+|bench\/.+)$/.exec(url);
  return src ? src[1]! : url;
}

for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, lineNumber } = byId.get(id)!.callFrame;
    const url = sourceUrl(byId.get(id)!.callFrame.url);
    const mod = moduleOf(url, functionName);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${mod}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const busy = total - (byModule.get('(idle)') ?? 0);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byStage = new Map<string, number>();
  for (const [id, us] of self) {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)') continue;
    let stage: string | null = null;
    for (let cur: number | undefined = id; cur !== undefined && stage === null; cur = parent.get(cur)) {
      const url = sourceUrl(byId.get(cur)!.callFrame.url);
      stage = STAGES.find(([, test]) => test(url))?.[0] ?? null;
    }
    stage ??= leaf.startsWith('(') ? leaf : 'other';
    if (WRITES.has(leaf)) stage = `socket write (${stage})`;
    byStage.set(stage, (byStage.get(stage) ?? 0) + us);
  }
  const show = (title: string, map: Map<string, number>) => {
    console.log(`\n${title} (share of non-idle CPU)`);
    for (const [name, us] of [...map].filter(([n]) => n !== '(idle)' && !n.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
    }
  };
  console.log(`${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle`);
  show('Self time by module', byModule);
  show('Time by stage of the request (innermost frame that names one)', byStage);
  show('Self time by function', byFunction);
}
