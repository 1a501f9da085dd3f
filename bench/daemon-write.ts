// One manifest write at full size, timed the way the daemon does it: state/store.ts opens a copy
// of a real manifest, then saves it `--reps` times (each save is a new document object, so none
// is skipped as unchanged: .bak link, check, stringify, temp file, rename). Run in its own process
// so nothing else lives in its heap:
//   node --import tsx bench/daemon-write.ts <manifest.json> [--reps 5] [--store state/store.ts]
// `--store` times another version of state/store.ts (e.g. `git show <rev>:state/store.ts` saved
// beside a copy of state/manifest.ts), for before/after figures in the same conditions.
// Prints one JSON line (milliseconds; KiB for memory).

import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { toDocument, validateManifest, type Manifest, type ManifestDocument } from '../state/manifest.js';
import * as currentStore from '../state/store.js';

export interface WriteTiming {
  readonly entries: number;
  readonly bytes: number;
  readonly openMs: number;
  /** Every save, in order: wall time, and CPU time of the process (all threads) during it. */
  readonly saveMs: readonly number[];
  readonly saveCpuMs: readonly number[];
  /** The parts, each timed alone (medians over the reps). */
  readonly validateMs: number;
  readonly stringifyMs: number;
  readonly writeFileMs: number;
  /** VmHWM reached during one save above the VmRSS just before it (the write's transient memory). */
  readonly saveExtraKiB: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** The document as a plain object, as the file holds it; an older store.ts (`--store`) hands one back already. */
const plainDocument = (m: Manifest): ManifestDocument => (m.entries instanceof Map ? toDocument(m) : (m as unknown as ManifestDocument));

const since = (t: number): number => Math.round((performance.now() - t) * 10) / 10;

async function vm(field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile('/proc/self/status', 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
}

/** Resets VmHWM to the current RSS (Linux: write 5 to clear_refs); false when not allowed. */
async function resetPeak(): Promise<boolean> {
  return writeFile('/proc/self/clear_refs', '5').then(
    () => true,
    () => false,
  );
}

export async function timeWrites(source: string, reps: number, store: Pick<typeof currentStore, 'ManifestStore' | 'manifestFile'> = currentStore): Promise<WriteTiming> {
  const { ManifestStore, manifestFile } = store;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'daemon-write-'));
  try {
    const head = JSON.parse(await readFile(source, 'utf8')) as ManifestDocument;
    await copyFile(source, manifestFile(dir, head.pair));
    const t0 = performance.now();
    const { store, manifest, recovered } = await ManifestStore.open({ stateDir: dir, pair: head.pair, root: head.root, remoteId: head.remoteId, hashAlgo: head.hashAlgo });
    const openMs = since(t0);
    if (recovered !== undefined) throw new Error(`the copy did not open cleanly: ${recovered}`);
    const saveMs: number[] = [];
    const saveCpuMs: number[] = [];
    const validate: number[] = [];
    const stringify: number[] = [];
    const write: number[] = [];
    let extra = 0;
    // The parts below are timed on the document as parsed: what validateManifest checks on load,
    // what JSON.stringify of the whole file would cost.
    const plain = plainDocument(manifest);
    for (let i = 0; i < reps; i++) {
      // A new document object each time, as a pass hands the store; the entries are shared.
      const doc: Manifest = { ...manifest };
      const measurePeak = i === 0 && (await resetPeak());
      const before = await vm('VmRSS');
      const cpu = process.cpuUsage();
      const t = performance.now();
      await store.save(doc);
      saveMs.push(since(t));
      const used = process.cpuUsage(cpu);
      saveCpuMs.push(Math.round((used.user + used.system) / 100) / 10);
      if (measurePeak) extra = (await vm('VmHWM')) - before;
      let p = performance.now();
      validateManifest(plain);
      validate.push(since(p));
      p = performance.now();
      const text = JSON.stringify(plain);
      stringify.push(since(p));
      p = performance.now();
      await writeFile(path.join(dir, 'plain.json'), text);
      write.push(since(p));
    }
    const bytes = (await readFile(manifestFile(dir, head.pair))).length;
    return {
      entries: Object.keys(plain.entries).length,
      bytes,
      openMs,
      saveMs,
      saveCpuMs,
      validateMs: median(validate),
      stringifyMs: median(stringify),
      writeFileMs: median(write),
      saveExtraKiB: extra,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { reps: { type: 'string', default: '5' }, store: { type: 'string' } } });
  const source = positionals[0];
  if (source === undefined) {
    process.stderr.write('usage: node --import tsx bench/daemon-write.ts <manifest.json> [--reps 5] [--store FILE]\n');
    process.exit(2);
  }
  const store = values.store === undefined ? currentStore : ((await import(pathToFileURL(path.resolve(values.store)).href)) as typeof currentStore);
  process.stdout.write(`${JSON.stringify(await timeWrites(path.resolve(source), Number(values.reps), store))}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
