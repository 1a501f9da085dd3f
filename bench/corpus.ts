// Deterministic benchmark corpus: many small files across folders plus a few big ones, with
// fixed bytes and fixed mtimes, so every tool in every run sees exactly the same tree.
// Run alone: node --import tsx bench/corpus.ts <dir> [files] [bigFiles] [bigMiB]

import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

const KIB = 1024;
const MIB = 1024 * KIB;

export interface CorpusOptions {
  /** Folder to create (replaced if it holds another corpus). */
  readonly root: string;
  /** Small files. @default 10000 */
  readonly files?: number;
  /** Leaf folders the small files spread across. @default max(1, files / 50) */
  readonly folders?: number;
  /** Smallest small file in bytes (sizes are log-uniform). @default 256 */
  readonly minSize?: number;
  /** Largest small file in bytes. @default 64 KiB */
  readonly maxSize?: number;
  /** Big files under `big/`. @default 3 */
  readonly bigFiles?: number;
  /** Size of each big file in bytes. @default 100 MiB */
  readonly bigSize?: number;
  /** Changes every byte and size, deterministically. @default 'sync-agent-bench' */
  readonly seed?: string;
}

export interface CorpusFile {
  /** '/'-separated path under the root. */
  readonly path: string;
  readonly size: number;
}

export interface Corpus {
  readonly root: string;
  readonly files: readonly CorpusFile[];
  readonly totalBytes: number;
  readonly options: Required<Omit<CorpusOptions, 'root'>>;
}

/**
 * The same mtime for every file of every run: 2024-01-01T00:00:00Z plus the file's index in whole
 * seconds. Whole seconds are exact in every tool's format (a fraction passed through a double is
 * off by some nanoseconds, and rclone then sees a changed mtime).
 */
const MTIME_BASE_S = Date.UTC(2024, 0, 1) / 1000;
const POOL_SIZE = 4 * MIB;
const WRITE_WIDTH = 32;

/** Deterministic pseudo-random bytes: AES-256-CTR keystream keyed by the seed and a label. */
export function keystream(seed: string, label: string, size: number): Buffer {
  const key = createHash('sha256').update(`${seed}\u0000${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

/** A small PRNG (mulberry32) for sizes and picks: same seed, same sequence. */
export function prng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function resolveOptions(o: CorpusOptions): Corpus['options'] {
  const files = o.files ?? 10_000;
  return {
    files,
    folders: o.folders ?? Math.max(1, Math.round(files / 50)),
    minSize: o.minSize ?? 256,
    maxSize: o.maxSize ?? 64 * KIB,
    bigFiles: o.bigFiles ?? 3,
    bigSize: o.bigSize ?? 100 * MIB,
    seed: o.seed ?? 'sync-agent-bench',
  };
}

/** The file list alone (paths and sizes), without touching the disk. */
export function corpusFiles(opts: Corpus['options']): CorpusFile[] {
  const rand = prng(`${opts.seed}/sizes`);
  const logMin = Math.log(opts.minSize);
  const logMax = Math.log(opts.maxSize);
  const out: CorpusFile[] = [];
  for (let i = 0; i < opts.files; i++) {
    const folder = i % opts.folders;
    // Two levels (10 top folders) so walks and listings see some depth.
    const rel = `t${folder % 10}/d${String(folder).padStart(4, '0')}/file-${String(i).padStart(6, '0')}.dat`;
    out.push({ path: rel, size: Math.round(Math.exp(logMin + rand() * (logMax - logMin))) });
  }
  for (let k = 0; k < opts.bigFiles; k++) out.push({ path: `big/big-${k}.dat`, size: opts.bigSize });
  return out;
}

/** A small file's bytes: a unique header (so no two files share content) then pool bytes. */
export function smallContent(pool: Buffer, seed: string, index: number, size: number, variant = ''): Buffer {
  const header = Buffer.from(`${seed} ${variant}#${index}\n`);
  const body = Math.max(0, size - header.length);
  const start = (index * 7919 + variant.length * 104729) % (pool.length - body);
  return Buffer.concat([header, pool.subarray(start, start + body)], size);
}

async function writeBig(file: string, seed: string, label: string, size: number): Promise<void> {
  const key = createHash('sha256').update(`${seed}\u0000${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const out = createWriteStream(file);
  const zeros = Buffer.alloc(4 * MIB);
  for (let left = size; left > 0; left -= zeros.length) {
    // Honour back-pressure so a 1 GiB file never sits in memory.
    if (!out.write(cipher.update(zeros.subarray(0, Math.min(left, zeros.length))))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Runs `fn` over `items`, `width` at a time. */
export async function forEachLimit<T>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

export const fileMtimeS = (index: number): number => MTIME_BASE_S + index;
/** Bumped when generation changes, so cached corpora are rebuilt. */
const FORMAT = 2;

/**
 * Creates the corpus at `root`, or reuses it when `<root>.json` says the same options made it
 * (generation of 100,000 files is not free). The marker lives beside the root, never inside.
 */
export async function makeCorpus(o: CorpusOptions): Promise<Corpus> {
  const options = resolveOptions(o);
  const files = corpusFiles(options);
  const corpus: Corpus = { root: o.root, files, totalBytes: files.reduce((n, f) => n + f.size, 0), options };
  const marker = `${o.root}.json`;
  const want = JSON.stringify({ format: FORMAT, ...options });
  if ((await readFile(marker, 'utf8').catch(() => '')) === want) return corpus;

  await rm(marker, { force: true });
  await rm(o.root, { recursive: true, force: true });
  const pool = keystream(options.seed, 'pool', POOL_SIZE);
  const dirs = new Set(files.map((f) => path.dirname(f.path)));
  for (const d of dirs) await mkdir(path.join(o.root, d), { recursive: true });
  await forEachLimit(files, WRITE_WIDTH, async (f, i) => {
    const abs = path.join(o.root, f.path);
    if (f.path.startsWith('big/')) await writeBig(abs, options.seed, f.path, f.size);
    else await writeFile(abs, smallContent(pool, options.seed, i, f.size));
    await utimes(abs, fileMtimeS(i), fileMtimeS(i));
  });
  await writeFile(marker, want);
  return corpus;
}

/**
 * Writes one big file (the 1 GiB scenario) unless it is already there with these options. The
 * marker is `<folder>.json`, beside the file's folder, so the folder holds the file alone.
 */
export async function makeBigFile(file: string, size: number, seed = 'sync-agent-bench'): Promise<void> {
  const marker = `${path.dirname(file)}.json`;
  const want = JSON.stringify({ file: path.basename(file), size, seed });
  if ((await readFile(marker, 'utf8').catch(() => '')) === want) return;
  await rm(path.dirname(file), { recursive: true, force: true });
  await mkdir(path.dirname(file), { recursive: true });
  await writeBig(file, seed, path.basename(file), size);
  await utimes(file, MTIME_BASE_S, MTIME_BASE_S);
  await writeFile(marker, want);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [root, files, big, bigMiB] = process.argv.slice(2);
  if (!root) {
    process.stderr.write('usage: node --import tsx bench/corpus.ts <dir> [files=10000] [bigFiles=3] [bigMiB=100]\n');
    process.exit(2);
  }
  const started = Date.now();
  const c = await makeCorpus({
    root: path.resolve(root),
    ...(files ? { files: Number(files) } : {}),
    ...(big ? { bigFiles: Number(big) } : {}),
    ...(bigMiB ? { bigSize: Number(bigMiB) * MIB } : {}),
  });
  process.stdout.write(`${c.files.length} files, ${(c.totalBytes / MIB).toFixed(1)} MiB at ${c.root} in ${Date.now() - started} ms\n`);
}
