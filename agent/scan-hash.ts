// Reading and hashing local files for a scan, and the error handling the walk shares with it:
// a vanished path is simply absent, an unreadable one is a blind skip (never absent, so nothing
// is deleted under it). The scan hashes files whose stat moved from the base; a pass hashes the
// scan's new files later, only those a decision needs (hashLocalFiles).

import path from 'node:path';
import { hashFile } from './hasher.js';
import type { LocalScan } from './scanner.js';
import type { HashAlgo, LocalFile, RemoteObject, Skip } from './types.js';

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

/**
 * Hashes a scan's new files as soon as a listing page shows the remote holds their path (they will
 * be compared with it), while later pages are still coming: an adoption (a first run against a
 * bucket that already has the files) then reads them during the listing instead of after it.
 * Pages that arrive before the scan ends wait for it. A path matched here only by its raw key
 * misses nothing: the pass hashes whatever it still needs afterwards (filesToHash).
 */
export class HashWhileListing {
  readonly #o: Omit<HashOptions, 'diskNames'>;
  readonly #faults: Faults;
  readonly #hashed = new Map<string, LocalFile>();
  readonly #asked: LocalFile[] = [];
  /** Listed paths seen before the scan ended. */
  #early: string[] | undefined = [];
  #scan: { readonly snapshot: ReadonlyMap<string, LocalFile>; readonly unhashed: Set<string>; readonly diskNames: ReadonlyMap<string, string> } | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;
  #stopped = false;

  constructor(o: Omit<HashOptions, 'diskNames'>) {
    this.#o = { ...o, root: path.resolve(o.root) };
    this.#faults = new Faults(o.signal);
  }

  /** A page of the listing. */
  listed(page: readonly RemoteObject[]): void {
    if (this.#stopped) return;
    if (this.#early) for (const o of page) this.#early.push(o.path);
    else this.#take(page.map((o) => o.path));
  }

  /** The scan ended: hash what the pages so far showed, then each page as it comes. */
  scanned(scan: LocalScan): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    // Nothing new on this side (a no-op pass): the pages need no look at all.
    if (scan.unhashed.length === 0) return this.stop();
    this.#scan = { snapshot: scan.snapshot, unhashed: new Set(scan.unhashed), diskNames: scan.diskNames };
    this.#take(early);
  }

  /** Starts nothing more (the pass stopped at a guard). */
  stop(): void {
    this.#stopped = true;
  }

  /** Waits for the hashing in flight, then folds it into `scan` (see withHashes). */
  async into(scan: LocalScan): Promise<LocalScan> {
    await this.#chain;
    if (this.#failure) throw this.#failure.error;
    const dropped = this.#asked.filter((f) => !this.#hashed.has(f.path)).map((f) => f.path);
    const bytes = [...this.#hashed.values()].reduce((n, f) => n + f.size, 0);
    const { skips, blind } = this.#faults;
    return withHashes(scan, { files: this.#hashed, dropped, skips: [...skips.values()].sort(byPath), blind: [...blind].sort(), hashedFiles: this.#hashed.size, hashedBytes: bytes });
  }

  #take(paths: readonly string[]): void {
    const scan = this.#scan;
    if (!scan || this.#stopped) return;
    const files: LocalFile[] = [];
    for (const p of paths) {
      const f = scan.unhashed.delete(p) ? scan.snapshot.get(p) : undefined;
      if (f) files.push(f);
    }
    if (files.length === 0) return;
    for (const f of files) this.#asked.push(f);
    // One batch at a time, so a fast listing never has more than hashConcurrency files open.
    this.#chain = this.#chain.then(async () => {
      if (this.#failure || this.#stopped) return;
      try {
        await hashEach({ ...this.#o, diskNames: scan.diskNames }, this.#faults, files, (f) => this.#hashed.set(f.path, f));
      } catch (error) {
        this.#failure = { error };
      }
    });
  }
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
