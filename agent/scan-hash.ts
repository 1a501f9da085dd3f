// Reading and hashing local files for a scan, and the error handling the walk shares with it:
// a vanished path is simply absent, an unreadable one is a blind skip (never absent, so nothing
// is deleted under it). The scan hashes files whose stat moved from the base; a pass hashes the
// scan's new files later, only those a decision needs (hashLocalFiles).

import path from 'node:path';
import { hashFile } from './hasher.js';
import type { LocalScan } from './scanner.js';
import type { HashAlgo, LocalFile, Skip } from './types.js';

export interface HashOptions {
  /** The pair's local root. */
  readonly root: string;
  readonly hashAlgo: HashAlgo;
  /** The scan's on-disk names of keys that differ from them. @default none */
  readonly diskNames?: ReadonlyMap<string, string> | undefined;
  /** Files hashed at once. @default 4 */
  readonly hashConcurrency?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What hashing some of a scan's unhashed files found. */
export interface HashedFiles {
  /** Each file read, with the stat it had in the scan (a file changed meanwhile is read again next pass). */
  readonly files: ReadonlyMap<string, LocalFile>;
  /** Keys that vanished since the scan (now absent) or became unreadable (then in `skips`/`blind` too). */
  readonly dropped: readonly string[];
  readonly skips: readonly Skip[];
  readonly blind: readonly string[];
  readonly hashedFiles: number;
  readonly hashedBytes: number;
}

export const codeOf = (e: unknown): string => (e as NodeJS.ErrnoException | null)?.code ?? String(e);
/** Vanished between listing and looking: simply absent. */
export const gone = (e: unknown): boolean => codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR';
export const describe = (e: unknown): string =>
  codeOf(e) === 'EACCES' || codeOf(e) === 'EPERM' ? 'permission denied' : `cannot read (${codeOf(e)})`;
export const byPath = (a: Skip, b: Skip): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Skips and blind paths of one scan or hash run, and the error handling that records them. */
export class Faults {
  readonly skips = new Map<string, Skip>();
  readonly blind = new Set<string>();
  readonly #signal: AbortSignal | undefined;

  constructor(signal: AbortSignal | undefined) {
    this.#signal = signal;
  }

  /** Records a skip (once per path and reason); `blind` also forbids deletes under `p`. */
  skip(p: string, reason: string, blind = false): undefined {
    this.skips.set(`${p}\u0000${reason}`, { path: p, side: 'local', reason });
    if (blind) this.blind.add(p);
    return undefined;
  }

  /** Runs one fs call about `key`: a vanished path gives undefined, an unreadable one is blind. */
  try<T>(key: string, call: () => Promise<T>): Promise<T | undefined> {
    return call().catch((e: unknown) => {
      this.#signal?.throwIfAborted();
      return gone(e) ? undefined : this.skip(key, describe(e), true);
    });
  }
}

/**
 * Reads and hashes `files` (scan entries) on `hashConcurrency` workers; `done` gets each one
 * hashed. A file that vanished is left out; an unreadable one is recorded in `faults`.
 */
export async function hashEach(o: HashOptions, faults: Faults, files: readonly LocalFile[], done: (f: LocalFile) => void): Promise<void> {
  await pool([...files], o.hashConcurrency ?? 4, o.signal, async (f) => {
    const file = path.join(o.root, o.diskNames?.get(f.path) ?? f.path);
    const hash = await faults.try(f.path, () => hashFile(file, o.hashAlgo, o.signal));
    // Paired with the stat taken before reading: a file changed meanwhile is hashed again next scan.
    if (hash !== undefined) done({ path: f.path, size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, hash });
  });
}

/**
 * Hashes some of a scan's unhashed files (those a decision needs), with the scan's error
 * handling: an unreadable file becomes a blind skip, a vanished one is dropped.
 */
export async function hashLocalFiles(o: HashOptions, files: readonly LocalFile[]): Promise<HashedFiles> {
  const faults = new Faults(o.signal);
  const hashed = new Map<string, LocalFile>();
  let bytes = 0;
  await hashEach({ ...o, root: path.resolve(o.root) }, faults, files, (f) => {
    hashed.set(f.path, f);
    bytes += f.size;
  });
  const dropped = files.filter((f) => !hashed.has(f.path)).map((f) => f.path);
  return { files: hashed, dropped, skips: [...faults.skips.values()].sort(byPath), blind: [...faults.blind].sort(), hashedFiles: hashed.size, hashedBytes: bytes };
}

/**
 * Folds hashed files into their scan: updates `scan.snapshot` IN PLACE (no copy of a 100,000-entry
 * map per pass) and returns the scan with merged skips, blind paths and counts.
 */
export function withHashes(scan: LocalScan, h: HashedFiles): LocalScan {
  for (const [k, f] of h.files) scan.snapshot.set(k, f);
  for (const k of h.dropped) scan.snapshot.delete(k);
  if (h.files.size === 0 && h.dropped.length === 0) return scan;
  const dropped = new Set(h.dropped);
  return {
    ...scan,
    skips: h.skips.length === 0 ? scan.skips : [...scan.skips, ...h.skips].sort(byPath),
    blind: h.blind.length === 0 ? scan.blind : [...new Set([...scan.blind, ...h.blind])].sort(),
    unhashed: scan.unhashed.filter((k) => !h.files.has(k) && !dropped.has(k)),
    hashedFiles: scan.hashedFiles + h.hashedFiles,
    hashedBytes: scan.hashedBytes + h.hashedBytes,
  };
}

/** Runs `jobs` (which may push more) on `width` workers until none is left or one fails.
 * LIFO (not Array#shift, which is O(n)) keeps the walk depth-first and pending entries few. */
export async function pool<T>(jobs: T[], width: number, signal: AbortSignal | undefined, handle: (job: T, push: (j: T) => void) => Promise<void>): Promise<void> {
  let busy = 0;
  let failure: { error: unknown } | undefined;
  const waiting: (() => void)[] = [];
  const wakeAll = (): void => waiting.splice(0).forEach((wake) => wake());
  const push = (j: T): void => void (jobs.push(j), wakeAll());
  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const job = jobs.pop();
      if (job === undefined) {
        if (busy === 0) break;
        await new Promise<void>((r) => waiting.push(r));
        continue;
      }
      busy++;
      try {
        signal?.throwIfAborted();
        await handle(job, push);
      } catch (error) {
        failure ??= { error };
      } finally {
        busy--;
      }
    }
    wakeAll();
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, worker));
  if (failure !== undefined) throw failure.error;
}
