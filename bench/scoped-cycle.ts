// What one scoped cycle (the daemon's fast path: a handful of changed paths) costs in manifest
// work at 100,000 entries, before and after the manifest's entries became a Map: the base the
// pass plans (snapshot + scoping + the guards' tracked counts), then folding 10 updates into a new
// manifest. The "before" functions are the old ones, kept here as the baseline; both run
// interleaved in one process, so the machine's noise hits them alike.
//   node --expose-gc --max-semi-space-size=256 --import tsx bench/scoped-cycle.ts [--reps 15] [--entries 100000]
// A large young generation keeps scavenges out of the measured steps, so the heap growth of a
// step is what it allocated; the GCs that happened anyway are counted and printed.

import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import type { BaseEntry, BaseSnapshot } from '../agent/types.js';
import { inScope } from '../agent/paths.js';
import { scopeBase } from '../agent/scoped-base.js';
import { applyResults, emptyManifest, fromDocument, toDocument, type Manifest, type ManifestDocument } from '../state/manifest.js';
import { median } from './daemon-write.js';

// ---------------------------------------------------------------------------------------------
// The baseline: state/manifest.ts and agent/cycle.ts before (entries a plain object).

function oldBaseSnapshot(m: ManifestDocument): BaseSnapshot {
  return new Map(Object.entries(m.entries));
}

function oldWithUpdates(m: ManifestDocument, updates: ReadonlyMap<string, BaseEntry | null>): ManifestDocument {
  if (updates.size === 0) return m;
  const entries: Record<string, BaseEntry> = { ...m.entries };
  for (const [p, e] of updates) {
    if (e === null || (e.local === undefined && e.remote === undefined)) delete entries[p];
    else entries[p] = e;
  }
  return { ...m, entries };
}

function oldApply(m: ManifestDocument, baseUpdates: ReadonlyMap<string, BaseEntry | null>): ManifestDocument {
  return oldWithUpdates(m, new Map(baseUpdates));
}

/** runCycle's base work before: the snapshot, the scoped copy through an array, the counts. */
function oldScope(m: ManifestDocument, scope: ReadonlySet<string>): { base: BaseSnapshot; tracked: number; trackedRemote: number } {
  const base = oldBaseSnapshot(m);
  const scoped = new Map([...base].filter(([p]) => inScope(p, scope)));
  let tracked = 0;
  let trackedRemote = 0;
  for (const e of base.values()) {
    if (e.local) tracked++;
    if (e.remote) trackedRemote++;
  }
  return { base: scoped, tracked, trackedRemote };
}

// ---------------------------------------------------------------------------------------------

const entry = (i: number): BaseEntry => ({
  local: { size: 1000 + i, mtimeMs: 1_700_000_000_000 + i, ino: 5_000_000 + i, hash: i.toString(16).padStart(32, '0') },
  remote: { token: i.toString(16).padStart(32, '0'), size: 1000 + i, hash: i.toString(16).padStart(32, '0') },
});
const pathOf = (i: number): string => `dir${i % 100}/sub${i % 7}/file-${i}.txt`;

/** The document as the daemon loads it: parsed from the file's JSON (a dictionary-mode object). */
function loadedDocument(n: number): ManifestDocument {
  const entries = new Map<string, BaseEntry>();
  for (let i = 0; i < n; i++) entries.set(pathOf(i), entry(i));
  const m: Manifest = { ...emptyManifest('bench', '/data', 's3://bench/', 'md5'), entries };
  return JSON.parse(JSON.stringify(toDocument(m))) as ManifestDocument;
}

interface Step {
  readonly ms: number;
  /** Heap growth over the step (no GC in between): what it allocated, garbage included. */
  readonly allocKiB: number;
  /** Large-object space growth: arrays and hash tables too big for the young generation. */
  readonly largeKiB: number;
}

const gcs = { count: 0 };
new PerformanceObserver((list) => (gcs.count += list.getEntries().length)).observe({ entryTypes: ['gc'] });

const heapUsed = (): number => process.memoryUsage().heapUsed;
const largeUsed = (): number => v8.getHeapSpaceStatistics().filter((s) => s.space_name.endsWith('large_object_space')).reduce((n, s) => n + s.space_used_size, 0);

/** Holds a step's result until it is measured, so nothing it built is collected early. */
const held: { value?: unknown } = {};
function measure(fn: () => unknown): Step {
  (globalThis.gc as () => void)();
  const h0 = heapUsed();
  const l0 = largeUsed();
  const t0 = performance.now();
  held.value = fn();
  const ms = performance.now() - t0;
  const step = { ms, allocKiB: (heapUsed() - h0) / 1024, largeKiB: (largeUsed() - l0) / 1024 };
  held.value = undefined;
  return step;
}

interface Variant {
  readonly name: string;
  /** Base for the plan: snapshot + scoping + tracked counts. */
  readonly scope: () => unknown;
  /** Fold the cycle's 10 updates into a new manifest. */
  readonly apply: () => unknown;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '15' }, entries: { type: 'string', default: '100000' } } });
  if (typeof globalThis.gc !== 'function') {
    process.stderr.write('run with node --expose-gc --max-semi-space-size=256 --import tsx bench/scoped-cycle.ts\n');
    process.exit(2);
  }
  const n = Number(values.entries);
  const reps = Number(values.reps);
  const doc = loadedDocument(n);
  const manifest = fromDocument(doc);

  // The cycle: ten watcher paths (eight edits, one new file, one removal), ten updates.
  const picked = [1, 9_999, 20_002, 33_333, 45_678, 50_000, 61_234, 77_777].map((i) => i % n);
  const scope = new Set([...picked.map(pathOf), 'dir3/new-file.txt', pathOf(88_888 % n)]);
  const updates = new Map<string, BaseEntry | null>([...picked.map((i): [string, BaseEntry] => [pathOf(i), entry(i + 1)]), ['dir3/new-file.txt', entry(n + 1)], [pathOf(88_888 % n), null]]);

  const variants: Variant[] = [
    { name: 'before (object entries)', scope: () => oldScope(doc, scope), apply: () => oldApply(doc, updates) },
    { name: 'after (Map entries)', scope: () => scopeBase(manifest.entries, scope), apply: () => applyResults(manifest, updates, []) },
  ];
  // Same answers, or the comparison means nothing.
  const [a, b] = [oldScope(doc, scope), scopeBase(manifest.entries, scope)];
  if (JSON.stringify([...a.base].sort()) !== JSON.stringify([...b.base].sort()) || a.tracked !== b.tracked || a.trackedRemote !== b.trackedRemote) throw new Error('the two scopings disagree');
  if (JSON.stringify(oldApply(doc, updates)) !== JSON.stringify(toDocument(applyResults(manifest, updates, [])))) throw new Error('the two updates disagree');

  // Also the copy alone each way, as the brief asks: spreading the object vs new Map of the map.
  const copies: Variant[] = [{ name: 'copy: { ...entries } vs new Map(entries)', scope: () => ({ ...doc.entries }), apply: () => new Map(manifest.entries) }];

  const results = new Map<string, { scope: Step[]; apply: Step[] }>();
  for (const v of [...variants, ...copies]) results.set(v.name, { scope: [], apply: [] });
  const gcBefore = gcs.count;
  for (let r = 0; r < reps; r++) {
    // Interleaved, and the order flipped every rep.
    const order = r % 2 === 0 ? [...variants, ...copies] : [...copies, ...variants].reverse();
    for (const v of order) {
      const slot = results.get(v.name) as { scope: Step[]; apply: Step[] };
      slot.scope.push(measure(v.scope));
      await new Promise((resolve) => setImmediate(resolve)); // let the gc observer count
      slot.apply.push(measure(v.apply));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const forced = reps * (variants.length + copies.length) * 2; // one gc() before each step
  const med = (xs: readonly Step[], k: keyof Step): number => median(xs.map((s) => s[k]));
  const fmt = (x: number, d = 1): string => x.toFixed(d);
  process.stdout.write(`${n.toLocaleString('en')} entries, scope of ${scope.size} paths, ${updates.size} updates, ${reps} interleaved reps, medians; node ${process.version}\n`);
  process.stdout.write(`GCs besides the forced ones during the run: ${Math.max(0, gcs.count - gcBefore - forced)}\n\n`);
  process.stdout.write('| variant | step | ms | heap allocated KiB | of it large-object KiB |\n|---|---|---:|---:|---:|\n');
  for (const v of variants) {
    const s = results.get(v.name) as { scope: Step[]; apply: Step[] };
    const total = s.scope.map((x, i) => ({ ms: x.ms + (s.apply[i] as Step).ms, allocKiB: x.allocKiB + (s.apply[i] as Step).allocKiB, largeKiB: x.largeKiB + (s.apply[i] as Step).largeKiB }));
    process.stdout.write(`| ${v.name} | base for the plan (snapshot + scope + counts) | ${fmt(med(s.scope, 'ms'))} | ${fmt(med(s.scope, 'allocKiB'), 0)} | ${fmt(med(s.scope, 'largeKiB'), 0)} |\n`);
    process.stdout.write(`| ${v.name} | apply 10 updates | ${fmt(med(s.apply, 'ms'))} | ${fmt(med(s.apply, 'allocKiB'), 0)} | ${fmt(med(s.apply, 'largeKiB'), 0)} |\n`);
    process.stdout.write(`| ${v.name} | **one cycle** | **${fmt(med(total, 'ms'))}** | **${fmt(med(total, 'allocKiB'), 0)}** | ${fmt(med(total, 'largeKiB'), 0)} |\n`);
  }
  const c = results.get(copies[0]?.name ?? '') as { scope: Step[]; apply: Step[] };
  process.stdout.write(`| copy alone | \`{ ...entries }\` (dictionary-mode object) | ${fmt(med(c.scope, 'ms'))} | ${fmt(med(c.scope, 'allocKiB'), 0)} | ${fmt(med(c.scope, 'largeKiB'), 0)} |\n`);
  process.stdout.write(`| copy alone | \`new Map(entries)\` | ${fmt(med(c.apply, 'ms'))} | ${fmt(med(c.apply, 'allocKiB'), 0)} | ${fmt(med(c.apply, 'largeKiB'), 0)} |\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
