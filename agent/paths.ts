// Sync keys <-> local paths. Pure: no I/O. A key is '/'-separated, NFC, relative, and safe to
// join under a root; a name or key that cannot be one is skipped and reported, never written.

import path from 'node:path';
import type { RemoteObject, Skip } from './types.js';

/** Basename prefix of the agent's own temp files: downloads write `<dir>/.sync-agent-tmp-<random>`, then rename. */
export const TEMP_PREFIX = '.sync-agent-tmp-';
/** Folder (under the remote prefix) that remote versions are trashed into; never synced. */
export const TRASH_DIR = '.sync-agent-trash';
/** Longest file name Linux and macOS file systems accept, in UTF-8 bytes. */
export const MAX_SEGMENT_BYTES = 255;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why one path segment (already NFC) cannot be a local file name; undefined when it can. */
function segmentProblem(seg: string): string | undefined {
  if (seg === '') return 'empty path segment ("//" or a trailing "/")';
  if (seg === '..') return '".." segment would escape the sync folder';
  if (seg === '.') return '"." segment is not a file name';
  if (CONTROL.test(seg)) return 'holds a control character (U+0000-U+001F or U+007F)';
  // A backslash is legal on Linux but a separator on Windows; refusing it on both sides keeps
  // the round trip stable (a local name the agent uploads must list back as a valid key).
  if (seg.includes('\\')) return 'holds a backslash "\\" (a path separator on Windows)';
  if (LONE_SURROGATE.test(seg)) return 'is not valid Unicode (lone surrogate)';
  const bytes = Buffer.byteLength(seg, 'utf8');
  if (bytes > MAX_SEGMENT_BYTES) return `has a name of ${bytes} bytes; file names are limited to ${MAX_SEGMENT_BYTES}`;
  return undefined;
}

export type KeyCheck =
  | { readonly ok: true; readonly path: string }
  /** A zero-byte `dir/` folder marker: not a file, ignored silently. */
  | { readonly ok: false; readonly marker: true }
  | { readonly ok: false; readonly marker: false; readonly reason: string };

/**
 * Maps a remote key (prefix already stripped) to a sync key: '/'-separated segments, NFC.
 * `size` tells folder markers (zero bytes, key ending in '/') from objects that hold data.
 * @param size @default 0
 */
export function checkRemoteKey(key: string, size = 0): KeyCheck {
  // The empty key is the prefix's own folder marker (`backups/` under prefix `backups`).
  if ((key === '' || key.endsWith('/')) && size === 0) return { ok: false, marker: true };
  const unsafe = (why: string): KeyCheck => ({ ok: false, marker: false, reason: `unsafe remote key: ${why}` });
  if (key === '') return unsafe('empty key');
  if (key.endsWith('/')) return unsafe('ends with "/" but holds data, so it cannot be a file');
  if (key.startsWith('/')) return unsafe('starts with "/" (an absolute path)');
  if (key.includes('\u0000')) return unsafe('holds a NUL character');
  const nfc = key.normalize('NFC');
  for (const seg of nfc.split('/')) {
    const problem = segmentProblem(seg);
    if (problem !== undefined) return unsafe(problem);
  }
  return { ok: true, path: nfc };
}

export interface RemoteSnapshotBuild {
  /** Safe objects keyed by NFC path, each with `path` set to that key. */
  readonly snapshot: Map<string, RemoteObject>;
  /** Paths whose raw remote key differs from the NFC path: call providers with the raw key. */
  readonly rawKeys: Map<string, string>;
  readonly skips: Skip[];
  /**
   * Paths that exist remotely but were skipped (NFC twins, file-vs-folder clashes): like the
   * scanner's `blind`, nothing may be planned under them, since missing is not deleted.
   */
  readonly blind: string[];
}

/**
 * Validates a remote listing into a snapshot. Skips (and reports) unsafe keys, two raw keys with
 * the same NFC form, and file-vs-folder clashes (`x` and `x/y` both files: both sides skipped).
 * Case-only differences (`A.txt` and `a.txt`) are left alone on purpose: Linux file systems are
 * case-sensitive, so both are distinct local files. On a case-insensitive mount they would
 * collide; the executor's just-in-time checks then see the world moved and skip.
 */
export function buildRemoteSnapshot(objects: Iterable<RemoteObject>): RemoteSnapshotBuild {
  const b = new RemoteSnapshotBuilder();
  b.add(objects);
  return b.build();
}

/**
 * buildRemoteSnapshot a page at a time: a full pass feeds each listing page in as it arrives, so
 * the per-key work (NFC, the key checks, the ignore rules) runs while the next page is on its way
 * instead of after the last one (0.3 s of CPU at 100,000 keys). `build` does what needs every key.
 */
export class RemoteSnapshotBuilder {
  readonly #ignores: ((path: string) => boolean) | undefined;
  readonly #snapshot = new Map<string, RemoteObject>();
  readonly #rawKeys = new Map<string, string>();
  readonly #skips: Skip[] = [];
  /** NFC paths seen under two or more raw keys, with every such object as listed. */
  readonly #twins = new Map<string, RemoteObject[]>();
  /** Every folder some key lies in: a key equal to one of them is a file-vs-folder clash. */
  readonly #folders = new Set<string>();
  readonly #ignored = new Set<string>();

  /** @param ignores the pair's ignore rules, asked once per safe key (see `ignored`). */
  constructor(ignores?: (path: string) => boolean) {
    this.#ignores = ignores;
  }

  add(objects: Iterable<RemoteObject>): void {
    for (const o of objects) {
      const r = checkRemoteKey(o.path, o.size);
      if (!r.ok) {
        if (!r.marker) this.#skips.push({ path: o.path, side: 'remote', reason: r.reason });
        continue;
      }
      const p = r.path;
      const twins = this.#twins.get(p);
      if (twins) {
        twins.push(o);
        continue;
      }
      const first = this.#snapshot.get(p);
      if (first) {
        this.#twins.set(p, [{ ...first, path: this.#rawKeys.get(p) ?? p }, o]);
        this.#snapshot.delete(p);
        this.#rawKeys.delete(p);
        continue;
      }
      this.#snapshot.set(p, o.path === p ? o : { ...o, path: p });
      if (o.path !== p) this.#rawKeys.set(p, o.path);
      for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) this.#folders.add(p.slice(0, i));
      if (this.#ignores?.(p)) this.#ignored.add(p);
    }
  }

  /**
   * The safe keys a pair's ignore rules match. They stay in the snapshot (an ignored file still
   * clashes with a folder of the same name); the pass drops them.
   */
  get ignored(): ReadonlySet<string> {
    return this.#ignored;
  }

  /** The snapshot of everything added; the builder is spent. */
  build(): RemoteSnapshotBuild {
    const snapshot = this.#snapshot;
    const skips = this.#skips;
    const blind: string[] = [];
    for (const [p, list] of this.#twins) {
      const keys = list.map((o) => JSON.stringify(o.path)).join(' and ');
      for (const o of list) skips.push({ path: o.path, side: 'remote', reason: `remote keys ${keys} differ only in Unicode normalization (NFC/NFD); rename one` });
      blind.push(p);
    }
    // Clashes are rare: look for them only when some folder is also a file.
    let clash = false;
    for (const f of this.#folders) {
      if (!snapshot.has(f)) continue;
      clash = true;
      break;
    }
    if (clash) {
      for (const [file, inside] of fileFolderClashes(snapshot)) {
        const raw = (p: string): string => this.#rawKeys.get(p) ?? p;
        skips.push({ path: raw(file), side: 'remote', reason: `file-vs-folder clash: "${file}" is a file and also a folder of ${inside.length} key(s)` });
        for (const p of inside) skips.push({ path: raw(p), side: 'remote', reason: `file-vs-folder clash: "${file}" is also a file` });
        for (const p of [file, ...inside]) {
          snapshot.delete(p);
          this.#rawKeys.delete(p);
        }
        blind.push(file);
      }
    }
    return { snapshot, rawKeys: this.#rawKeys, skips, blind };
  }
}

/** For each path that is also an ancestor folder of other paths: the paths under it. */
function fileFolderClashes(files: ReadonlyMap<string, unknown>): Map<string, string[]> {
  const clashes = new Map<string, string[]>();
  for (const p of files.keys()) {
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
      const ancestor = p.slice(0, i);
      if (!files.has(ancestor)) continue;
      const list = clashes.get(ancestor);
      if (list) list.push(p);
      else clashes.set(ancestor, [p]);
    }
  }
  // A path both clashing and under a clash (`a`, `a/b`, `a/b/c`) is reported once, under its topmost file.
  for (const file of [...clashes.keys()]) {
    for (const p of clashes.get(file) ?? []) if (clashes.has(p)) clashes.delete(p);
  }
  return clashes;
}

export type NameCheck =
  | { readonly ok: true; /** As on disk. */ readonly name: string; /** NFC, the key segment. */ readonly key: string }
  | { readonly ok: false; /** Lossy, for messages. */ readonly display: string; readonly reason: string };

// ignoreBOM keeps a leading U+FEFF in the name instead of silently dropping it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes one local file name (bytes, as readdir gives them with `encoding: 'buffer'`). */
export function decodeLocalName(raw: Uint8Array): NameCheck {
  let name: string;
  try {
    name = UTF8.decode(raw);
  } catch {
    const hex = Buffer.from(raw).toString('hex').replace(/(..)(?!$)/g, '$1 ');
    return { ok: false, display: Buffer.from(raw).toString('utf8'), reason: `name is not valid UTF-8 (bytes ${hex}); rename it` };
  }
  const key = name.normalize('NFC');
  const problem = segmentProblem(key);
  return problem === undefined ? { ok: true, name, key } : { ok: false, display: name, reason: `local name ${problem}; rename it` };
}

/** Local relative path (segments as bytes) -> sync key and the real on-disk relative path. */
export function localNameToKey(
  segments: readonly Uint8Array[],
): { readonly ok: true; readonly key: string; readonly diskRel: string } | { readonly ok: false; readonly display: string; readonly reason: string } {
  const keys: string[] = [];
  const names: string[] = [];
  for (const seg of segments) {
    const r = decodeLocalName(seg);
    if (!r.ok) return { ok: false, display: [...names, r.display].join('/'), reason: r.reason };
    keys.push(r.key);
    names.push(r.name);
  }
  return { ok: true, key: keys.join('/'), diskRel: names.join('/') };
}

/** A key (or an on-disk relative path) that must not be joined under a root. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  constructor(
    readonly root: string,
    readonly key: string,
    reason: string,
  ) {
    super(`refusing path ${JSON.stringify(key)} under ${root}: ${reason}`);
  }
}

/** True when `p` is `root` or lies under it (lexically; symlinks are the scanner's business). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(p));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Joins a sync key (or disk-relative path) under `root`; throws UnsafePathError if it could escape. */
export function keyToLocalPath(root: string, key: string): string {
  if (key === '') throw new UnsafePathError(root, key, 'empty path');
  for (const seg of key.split('/')) {
    const problem = segmentProblem(seg.normalize('NFC'));
    if (problem !== undefined) throw new UnsafePathError(root, key, problem);
  }
  const full = path.join(path.resolve(root), ...key.split('/'));
  if (!isInside(root, full) || full === path.resolve(root)) throw new UnsafePathError(root, key, 'outside the root');
  return full;
}

/** A path is in scope if it equals a scope entry or lies under one; `''` or no scope = everything. */
export function inScope(p: string, scope: ReadonlySet<string> | undefined): boolean {
  if (scope === undefined || scope.has('') || scope.has(p)) return true;
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
    if (scope.has(p.slice(0, i))) return true;
  }
  return false;
}

/** Scope entries without those lying under another entry (`a` covers `a/b`), sorted; `''` covers all. */
export function topmostScope(scope: Iterable<string>): string[] {
  const all = new Set(scope);
  if (all.has('')) return [''];
  const covered = (p: string): boolean => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (all.has(p.slice(0, i))) return true;
    return false;
  };
  return [...all].filter((p) => !covered(p)).sort();
}
