// Walks the local root (or a few scoped paths) into a snapshot of sync keys. Stat first; read a
// file only when its stat differs from the base (a "suspect"), so a no-op pass over 100,000
// files costs stats, not reads. A file with no local base is not read at all: it is returned
// unhashed, and the caller hashes (hashLocalFiles) only those a decision needs; the others are
// uploaded, and the upload tells their hash. An unreadable path is reported `blind`, never absent.

import { accessSync, constants, lstatSync, type Dirent, type Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { byPath, codeOf, describe, Faults, gone, hashEach, pool } from './scan-hash.js';
import type { PathMatcher } from './ignore.js';
import { checkRemoteKey, decodeLocalName, isInside, TEMP_PREFIX, topmostScope } from './paths.js';
import type { BaseSnapshot, HashAlgo, LocalFile, Skip } from './types.js';

export { hashLocalFiles, HashWhileListing, withHashes, type HashedFiles, type HashOptions } from './scan-hash.js';

export interface ScanOptions {
  /** The pair's local root. */
  readonly root: string;
  /** The manifest's base: a file whose size, mtimeMs and ino equal its `local` side keeps that hash, unread. */
  readonly base: BaseSnapshot;
  readonly hashAlgo: HashAlgo;
  /** Ignored paths are left out, and an ignored folder is not descended. */
  readonly ignore: PathMatcher;
  /** `follow` follows links whose target stays inside the root (loops are cut). */
  readonly symlinks: 'skip' | 'follow';
  /** Only these keys (files or folders) are looked at. @default undefined (the whole tree; so does a scope holding '') */
  readonly scope?: ReadonlySet<string> | undefined;
  /** Files hashed at once. @default 4 */
  readonly hashConcurrency?: number | undefined;
  /** Aborts the scan: it then rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Files seen so far; called every 256 files and once at the end. */
  readonly onProgress?: ((files: number) => void) | undefined;
}

export interface LocalScan {
  /** false when the root does not exist (the snapshot is then empty). */
  readonly rootExists: boolean;
  readonly snapshot: Map<string, LocalFile>;
  /** Keys whose on-disk relative path differs (a non-NFC name on the way): open the file by this. */
  readonly diskNames: Map<string, string>;
  /** Sorted by path. */
  readonly skips: Skip[];
  /** Paths (files or folders) that could not be read: the agent must not plan deletes under them. */
  readonly blind: string[];
  /** On-disk relative paths of the agent's temp files met on the walk: leftovers of a killed run. */
  readonly temps: string[];
  /**
   * Keys of files with no local base (new to the manifest): in the snapshot with `hash`
   * undefined, opened once to prove them readable but not read. Sorted.
   */
  readonly unhashed: readonly string[];
  /** Files read and hashed by this scan (and bytes read). */
  readonly hashedFiles: number;
  readonly hashedBytes: number;
}


/** A local root that exists but is not a folder. */
export class ScanError extends Error {
  override readonly name = 'ScanError';
}

/** Stat calls in flight: enough to keep libuv's threadpool busy, few enough to stay polite. */
const STAT_WIDTH = 16;
const PROGRESS_EVERY = 256;
const TWINS = 'two local names differ only in Unicode normalization (NFC/NFD); rename one';

/** A folder being walked: its key, on-disk relative path, and real path (for loop checks along `parent`). */
type Dir = { readonly key: string; readonly disk: string; readonly real: string; readonly parent: Dir | undefined };
/** What a Dirent or a Stats tells about an entry's type. */
type Kind = Pick<Stats, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket'>;
/** A folder entry to look at; `st` when already lstat'ed (scoped paths, type changes). */
type Entry = {
  readonly parent: Dir;
  readonly name: string;
  readonly nfc: string;
  readonly kind: Kind;
  readonly st?: Stats;
  /** Set when #readDir already asked the ignore rules about this file (it asks before its lstat). */
  readonly kept?: true;
};
type Job = { readonly dir: Dir } | Entry;

const join = (a: string, b: string): string => (a === '' ? b : `${a}/${b}`);
const kindName = (k: Kind): string => (k.isFIFO() ? 'a FIFO' : k.isSocket() ? 'a socket' : 'a device or unknown type');
const emptyScan = (rootExists: boolean): LocalScan => ({
  rootExists, snapshot: new Map(), diskNames: new Map(), skips: [], blind: [], temps: [], unhashed: [], hashedFiles: 0, hashedBytes: 0,
});

export async function scanLocal(opts: ScanOptions): Promise<LocalScan> {
  const root = path.resolve(opts.root);
  let rootReal: string;
  try {
    if (!(await stat(root)).isDirectory()) throw new ScanError(`local root ${root} is not a folder; point "local" at a folder`);
    rootReal = await realpath(root);
  } catch (e) {
    if (e instanceof ScanError) throw e;
    if (gone(e)) return emptyScan(false);
    // Cannot even tell whether it exists: all of it is blind, so nothing gets deleted.
    return { ...emptyScan(true), blind: [''], skips: [{ path: '', side: 'local', reason: `local root ${root}: ${describe(e)}` }] };
  }
  return new Walker(opts, root, rootReal).run();
}

class Walker {
  readonly #o: ScanOptions;
  readonly #root: string;
  /** The root with one trailing separator (the root may be `/`). */
  readonly #rootSlash: string;
  readonly #top: Dir;
  readonly #snapshot = new Map<string, LocalFile>();
  readonly #diskNames = new Map<string, string>();
  readonly #faults: Faults;
  readonly #temps: string[] = [];
  /** Files with a local base whose stat moved: read and compared with the base. */
  readonly #suspects: LocalFile[] = [];
  readonly #unhashed: string[] = [];
  #files = 0;
  #hashedFiles = 0;
  #hashedBytes = 0;

  constructor(opts: ScanOptions, root: string, rootReal: string) {
    this.#o = opts;
    this.#faults = new Faults(opts.signal);
    this.#root = root;
    this.#rootSlash = root.endsWith(path.sep) ? root : root + path.sep;
    this.#top = { key: '', disk: '', real: rootReal, parent: undefined };
  }

  async run(): Promise<LocalScan> {
    const jobs: Job[] = [];
    for (const key of topmostScope(this.#o.scope ?? [''])) {
      if (key === '') jobs.push({ dir: this.#top });
      else await this.#resolveScoped(key, jobs);
    }
    await pool(jobs, STAT_WIDTH, this.#o.signal, (job, push) => ('dir' in job ? this.#readDir(job.dir, push) : this.#visit(job, push)));
    // Hashing comes after the walk so that stat throughput never waits behind a big read.
    const { hashAlgo, hashConcurrency, signal } = this.#o;
    await hashEach({ root: this.#root, hashAlgo, hashConcurrency, signal, diskNames: this.#diskNames }, this.#faults, this.#suspects, (f) => {
      this.#snapshot.set(f.path, f);
      this.#hashedFiles++;
      this.#hashedBytes += f.size;
    });
    this.#o.onProgress?.(this.#files);
    return {
      rootExists: true,
      snapshot: this.#snapshot,
      diskNames: this.#diskNames,
      skips: [...this.#faults.skips.values()].sort(byPath),
      blind: [...this.#faults.blind].sort(),
      temps: this.#temps,
      // A file found unreadable by its probe never entered the snapshot.
      unhashed: this.#unhashed.filter((k) => this.#snapshot.has(k)).sort(),
      hashedFiles: this.#hashedFiles,
      hashedBytes: this.#hashedBytes,
    };
  }

  /**
   * `disk` is built here from names read off the disk, joined with '/' (never '', '.', '..' or a
   * name holding '/'), so plain concatenation is the joined path; path.join re-normalised every
   * one of them, 0.7 KiB of garbage per file in a 100,000-file pass.
   */
  #abs(disk: string): string {
    return disk === '' ? this.#root : this.#rootSlash + disk;
  }

  #skip(p: string, reason: string, blind = false): undefined {
    return this.#faults.skip(p, reason, blind);
  }

  #try<T>(key: string, call: () => Promise<T>): Promise<T | undefined> {
    return this.#faults.try(key, call);
  }

  /** Reads one folder: decodes names, drops invalid ones and NFC twins, queues the rest. */
  async #readDir(dir: Dir, push: (j: Job) => void): Promise<void> {
    const entries: Dirent<Buffer>[] | undefined = await this.#try(dir.key, () => readdir(this.#abs(dir.disk), { withFileTypes: true, encoding: 'buffer' }));
    const named: { name: string; nfc: string; kind: Kind }[] = [];
    for (const d of entries ?? []) {
      const r = decodeLocalName(d.name);
      if (r.ok) named.push({ name: r.name, nfc: r.key, kind: d });
      else if (!this.#o.ignore.ignores(join(dir.key, r.display), d.isDirectory())) this.#skip(join(dir.key, r.display), r.reason);
    }
    // Two names with one NFC form can only arise when one is not NFC already: check just then.
    const seen = new Set<string>();
    const twins = new Set<string>();
    if (named.some((n) => n.name !== n.nfc)) for (const n of named) (seen.has(n.nfc) ? twins : seen).add(n.nfc);
    for (const n of named) {
      if (twins.has(n.nfc)) this.#skip(join(dir.key, n.nfc), TWINS, true);
      else if (n.kind.isFile() && !n.name.startsWith(TEMP_PREFIX)) {
        // Asked once here: an ignored file is neither stat'ed nor queued.
        if (this.#o.ignore.ignores(join(dir.key, n.nfc), false)) continue;
        push({ parent: dir, ...n, st: this.#lstatNow(join(dir.disk, n.name)), kept: true });
      } else push({ parent: dir, ...n });
    }
  }

  /**
   * lstat of a regular file, synchronously: the metadata is in the kernel's cache right after
   * the readdir, and a sync call costs a few µs where a promise through the thread pool cost
   * ~60 µs of CPU (a 5,000-file no-op spent 10% of its CPU in lstat). Undefined when it vanished
   * or failed: #visit then looks again with the async call and its fault handling.
   */
  #lstatNow(disk: string): Stats | undefined {
    try {
      return lstatSync(this.#abs(disk));
    } catch {
      return undefined;
    }
  }

  /** One entry: folders are queued, files stat'ed (and maybe queued for hashing), links per policy. */
  async #visit(e: Entry, push: (j: Job) => void): Promise<void> {
    const key = join(e.parent.key, e.nfc);
    const disk = join(e.parent.disk, e.name);
    if (e.kind.isFile() && e.name.startsWith(TEMP_PREFIX)) return void this.#temps.push(disk);
    if (e.kept !== true && this.#o.ignore.ignores(key, e.kind.isDirectory())) return;
    if (e.kind.isDirectory()) return push({ dir: { key, disk, real: `${e.parent.real}/${e.name}`, parent: e.parent } });
    if (e.kind.isSymbolicLink()) {
      const target = await this.#follow(e.parent, key, disk);
      if (target?.dir) push({ dir: target.dir });
      if (target?.st) await this.#addFile(key, disk, target.st);
      return;
    }
    if (!e.kind.isFile()) return this.#skip(key, `not a regular file (${kindName(e.kind)})`);
    const st = e.st ?? (await this.#try(key, () => lstat(this.#abs(disk))));
    // A type change between readdir and lstat: look again at what it is now.
    // (Asked again about the ignore rules: a folder-only pattern may match it now.)
    if (st && !st.isFile()) return this.#visit({ parent: e.parent, name: e.name, nfc: e.nfc, kind: st, st }, push);
    if (st) await this.#addFile(key, disk, st);
  }

  /** Resolves a link per policy: a folder to walk, a file's stat, or nothing (skipped). */
  async #follow(parent: Dir, key: string, disk: string): Promise<{ dir?: Dir; st?: Stats } | undefined> {
    if (this.#o.symlinks === 'skip') return this.#skip(key, 'symlink (symlinks: skip)');
    let real: string;
    let st: Stats;
    try {
      real = await realpath(this.#abs(disk));
      st = await stat(real);
    } catch (e) {
      if (codeOf(e) === 'EACCES' || codeOf(e) === 'EPERM') return this.#skip(key, describe(e), true);
      return this.#skip(key, codeOf(e) === 'ELOOP' ? 'symlink loop' : 'broken symlink (target missing)');
    }
    if (!isInside(this.#top.real, real)) return this.#skip(key, 'symlink points outside the root');
    // A link into an ignored place (the stateDir, the trash) must not expose it under another name.
    const targetKey = path.relative(this.#top.real, real).split(path.sep).join('/').normalize('NFC');
    if (this.#o.ignore.ignores(targetKey, st.isDirectory())) return undefined;
    if (st.isFile()) return { st };
    if (!st.isDirectory()) return this.#skip(key, `symlink to something that is not a regular file (${kindName(st)})`);
    if (this.#o.ignore.ignores(key, true)) return undefined;
    // Walking a folder that contains (or is) a folder already on this walk would never end.
    for (let d: Dir | undefined = parent; d; d = d.parent) {
      if (isInside(real, d.real)) return this.#skip(key, 'symlink loop (points at a folder that contains it)');
    }
    return { dir: { key, disk, real, parent } };
  }

  /** A regular file: its base hash on a stat match, queued for hashing if it has a base, else unhashed. */
  async #addFile(key: string, disk: string, st: Stats): Promise<void> {
    if (disk !== key) this.#diskNames.set(key, disk);
    if (++this.#files % PROGRESS_EVERY === 0) this.#o.onProgress?.(this.#files);
    const b = this.#o.base.get(key)?.local;
    // One object per file (a no-op over 100,000 files makes 100,000 of them).
    if (b && b.size === st.size && b.mtimeMs === st.mtimeMs && b.ino === st.ino) return void this.#snapshot.set(key, { path: key, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, hash: b.hash });
    const file: LocalFile = { path: key, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    if (b) return void this.#suspects.push(file);
    // No base to compare with: not read, but checked readable (one access call: opening and
    // closing a FileHandle cost an adoption of 5,000 files 0.25 s of CPU), so an unreadable new
    // file is still a blind skip here rather than a failed upload later. Synchronous, like the
    // lstat before it (a throw inside the executor rejects, so faults still sees the errno).
    const readable = await this.#try(key, () =>
      new Promise<boolean>((resolve) => {
        accessSync(this.#abs(disk), constants.R_OK);
        resolve(true);
      }),
    );
    if (readable === undefined) return;
    this.#snapshot.set(key, file);
    this.#unhashed.push(key);
  }

  /** Finds one scoped key on disk, segment by segment (through links per policy), and queues it. */
  async #resolveScoped(scoped: string, jobs: Job[]): Promise<void> {
    // Scope entries come from watcher events: never let one reach outside the root.
    const checked = checkRemoteKey(scoped, 1);
    if (!checked.ok) return;
    const key = checked.path;
    if (this.#o.ignore.ignores(key)) return;
    let dir = this.#top;
    const segs = key.split('/');
    for (const [i, seg] of segs.entries()) {
      const found = await this.#findName(dir, seg);
      if (found === undefined) return;
      if (i === segs.length - 1) return void jobs.push({ parent: dir, name: found.name, nfc: seg, kind: found.st, st: found.st });
      const sub = join(dir.key, seg);
      const disk = join(dir.disk, found.name);
      if (this.#o.ignore.ignores(sub, true)) return;
      if (found.st.isDirectory()) dir = { key: sub, disk, real: `${dir.real}/${found.name}`, parent: dir };
      else if (found.st.isSymbolicLink()) {
        const target = await this.#follow(dir, sub, disk);
        if (target?.dir === undefined) return;
        dir = target.dir;
      } else return;
    }
  }

  /**
   * The on-disk name of NFC segment `seg`: itself, else a non-NFC spelling (NFD, U+212A for "K").
   * Found as is, it is taken without listing the folder for twins (the fast path must not list a
   * huge folder per event); the next full pass reports twins.
   */
  async #findName(dir: Dir, seg: string): Promise<{ name: string; st: Stats } | undefined> {
    const key = join(dir.key, seg);
    const direct = await this.#try(key, () => lstat(this.#abs(join(dir.disk, seg))));
    if (direct) return { name: seg, st: direct };
    if (this.#faults.blind.has(key)) return undefined;
    const names = await this.#try(dir.key, () => readdir(this.#abs(dir.disk), { encoding: 'buffer' }));
    const spellings = (names ?? []).map(decodeLocalName).filter((r) => r.ok && r.key === seg && r.name !== seg);
    if (spellings.length > 1) return this.#skip(key, TWINS, true);
    const only = spellings[0];
    const st = only?.ok ? await this.#try(key, () => lstat(this.#abs(join(dir.disk, only.name)))) : undefined;
    return only?.ok && st ? { name: only.name, st } : undefined;
  }
}

