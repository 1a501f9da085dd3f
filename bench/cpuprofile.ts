// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: by area (the agent's own
// files, each package, node internals, GC, idle), the top functions by self time, and the agent's
// own functions by inclusive time (what they cost with everything they call).

import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

/** What a sample was doing, judged by its whole stack: see `bucketOf`. */
const CONTEXT: readonly (readonly [string, (f: CallFrame) => boolean])[] = [
  ['startup: loading and compiling modules (tsx, SDK, …)', (f) => /node:internal\/modules\//.test(f.url) || /tsx\/dist/.test(f.url)],
  ['hashing local files (md5)', (f) => /\/agent\/hasher\.ts/.test(f.url)],
  ['logging (pino)', (f) => /node_modules\/(pino|@pinojs|pino-pretty|sonic-boom|thread-stream)\//.test(f.url)],
];
const LEAF: readonly (readonly [string, (f: CallFrame) => boolean])[] = [
  ['XML parsing (SDK)', (f) => /node_modules\/(@aws-sdk\/xml-builder|fast-xml-parser)\//.test(f.url)],
  ['AWS SDK (middleware, serialisation, signing, retries)', (f) => /node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//.test(f.url)],
  ['HTTP and sockets (node)', (f) => /^node:(_http|http|net|internal\/(http|net|stream_base))/.test(f.url)],
  ['streams (node)', (f) => /^node:(internal\/streams|stream)/.test(f.url)],
  ['file system calls', (f) => /^node:(internal\/fs|fs)/.test(f.url) || (f.url === '' && /^(open|openFileHandle|close|read|lstat|fstat|stat|readdir|realpath|utimes|rename|unlink|write|writeString)$/.test(f.functionName))],
  ['p-queue / p-retry', (f) => /node_modules\/(p-queue|p-retry|eventemitter3|p-timeout)\//.test(f.url)],
  ['the agent\'s own code', (f) => OWN.test(f.url)],
  ['other packages', (f) => /node_modules\//.test(f.url)],
  ['node internals (other)', (f) => f.url.startsWith('node:')],
];
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly wallMs: number;
  /** ms per activity (stack-aware: see CONTEXT and LEAF), largest first. */
  readonly buckets: readonly (readonly [string, number])[];
  /** ms per area of the leaf frame, largest first. */
  readonly areas: readonly (readonly [string, number])[];
  /** Top functions by self time: [frame, ms]. */
  readonly selfTop: readonly (readonly [string, number])[];
  /** The project's own functions by inclusive time: [frame, ms]. */
  readonly ownTop: readonly (readonly [string, number])[];
}

const OWN = /\/(agent|providers|state|bin)\/[^/]+\.(ts|js)(\?.*)?$/;

/** The area a frame belongs to: the project, a package (scoped names kept), node, or V8's own. */
export function areaOf(f: CallFrame): string {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return pkg[1] as string;
  if (f.url.startsWith('node:')) return 'node internals';
  if (OWN.test(f.url)) return 'sync-agent (agent/, providers/, state/)';
  return 'other';
}

const frameName = (f: CallFrame): string => {
  const file = f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(agent|providers|state|bench|bin)\//, '$1/');
  // tsx-loaded files report line 0 throughout; a line is only shown when it means something.
  return `${f.functionName || '(anonymous)'} ${file}${file && f.lineNumber > 0 ? `:${f.lineNumber + 1}` : ''}`.trim();
};

const top = (m: Map<string, number>, n: number): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

export function summarise(p: CpuProfile, n = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  // Each sample's time is the delta that follows it (V8 records the gap before the next sample).
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0) / 1000));

  const areas = new Map<string, number>();
  const selfByFrame = new Map<string, number>();
  for (const [id, ms] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    areas.set(areaOf(f), (areas.get(areaOf(f)) ?? 0) + ms);
    selfByFrame.set(frameName(f), (selfByFrame.get(frameName(f)) ?? 0) + ms);
  }

  // Inclusive time of the project's frames, counted once per stack even under recursion.
  const inclusive = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  for (const [id, ms] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f || !OWN.test(f.url)) continue;
      const name = frameName(f);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
    }
  }
  const buckets = new Map<string, number>();
  for (const [id, ms] of self) buckets.set(bucketOf(id, byId, parent), (buckets.get(bucketOf(id, byId, parent)) ?? 0) + ms);
  return { wallMs: (p.endTime - p.startTime) / 1000, buckets: top(buckets, 20), areas: top(areas, 12), selfTop: top(selfByFrame, n), ownTop: top(inclusive, n) };
}

/**
 * A sample's activity: a CONTEXT match anywhere on its stack wins (md5 reading a file is hashing),
 * else the LEAF category of the innermost frame that has one. V8's pseudo-frames keep their names.
 */
function bucketOf(id: number, byId: ReadonlyMap<number, ProfileNode>, parent: ReadonlyMap<number, number>): string {
  const stack: CallFrame[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)?.callFrame;
    if (f) stack.push(f);
  }
  const leaf = stack[0];
  if (leaf && leaf.url === '' && /^\((idle|garbage collector|program)\)$/.test(leaf.functionName)) return leaf.functionName;
  for (const [name, test] of CONTEXT) if (stack.some(test)) return name;
  for (const f of stack) for (const [name, test] of LEAF) if (test(f)) return name;
  return '(native, unattributed)';
}

/**
 * The bundle's frames (dist/cli.js and its chunks, `npm run build`) named by the files they were
 * built from, through the source maps the build writes beside them: without this every frame of
 * the agent, the SDK and the other bundled packages is "other".
 */
function mapBundleFrames(p: CpuProfile): CpuProfile {
  const maps = new Map<string, { map: SourceMap; base: string } | undefined>();
  const mapOf = (url: string): { map: SourceMap; base: string } | undefined => {
    if (!maps.has(url)) {
      const file = url.startsWith('file://') && url.endsWith('.js') ? `${fileURLToPath(url)}.map` : undefined;
      maps.set(url, file && existsSync(file) ? { map: new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as SourceMapPayload), base: pathToFileURL(file).href } : undefined);
    }
    return maps.get(url);
  };
  const nodes = p.nodes.map((node) => {
    const m = mapOf(node.callFrame.url);
    if (!m) return node;
    const e = m.map.findEntry(node.callFrame.lineNumber, node.callFrame.columnNumber) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (e.originalSource === undefined) return node;
    const url = new URL(e.originalSource, m.base).href;
    return { ...node, callFrame: { ...node.callFrame, url, lineNumber: e.originalLine ?? 0, columnNumber: e.originalColumn ?? 0 } };
  });
  return { ...p, nodes };
}

export async function summariseFile(file: string, n = 15): Promise<ProfileSummary> {
  return summarise(mapBundleFrames(JSON.parse(await readFile(file, 'utf8')) as CpuProfile), n);
}

/** Markdown for results.md. */
export function renderSummary(title: string, s: ProfileSummary): string {
  const pct = (ms: number): string => `${((100 * ms) / s.wallMs).toFixed(1)}%`;
  const rows = (xs: readonly (readonly [string, number])[]): string[] => xs.map(([k, ms]) => `| ${k.replace(/\|/g, '\\|')} | ${Math.round(ms)} | ${pct(ms)} |`);
  return [
    `#### ${title} (main thread, ${(s.wallMs / 1000).toFixed(2)} s profiled)`,
    '',
    '| activity (whole stack) | ms | share |',
    '|---|---|---|',
    ...rows(s.buckets),
    '',
    '| area of the innermost frame | ms | share |',
    '|---|---|---|',
    ...rows(s.areas),
    '',
    '| top functions by self time | ms | share |',
    '|---|---|---|',
    ...rows(s.selfTop),
    '',
    "| the agent's own functions by inclusive time | ms | share |",
    '|---|---|---|',
    ...rows(s.ownTop),
    '',
  ].join('\n');
}
