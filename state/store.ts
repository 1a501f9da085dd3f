// The manifest on disk: lowdb over `<stateDir>/<pair>.manifest.json`, one atomic write per pass,
// the previous good file kept as `.bak`, and corruption recovered instead of crashing.

import { copyFile, link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Low, type Adapter } from 'lowdb';
import type { BaseEntry, BaseSnapshot } from '../agent/types.js';
import { MANIFEST_VERSION, checkedManifest, emptyManifest, type Manifest } from './manifest.js';

export interface OpenStoreOptions {
  /** Absolute state folder from the config; created when missing. */
  stateDir: string;
  pair: string;
  /** Absolute local root of the pair. */
  root: string;
  /** The provider's remoteId (bucket + prefix, or folder). */
  remoteId: string;
  /** Hash algorithm the pair uses for local files. */
  hashAlgo: string;
  /**
   * Storage for tests (lowdb `Memory`). With an adapter given there is no file, so no `.bak` and
   * no `.corrupt-*` copy: corruption then simply starts a first run.
   * @default a JSON file (atomic writes: temp file + rename) at `<stateDir>/<pair>.manifest.json`
   */
  adapter?: Adapter<Manifest>;
}

export interface OpenedStore {
  store: ManifestStore;
  manifest: Manifest;
  /** Set when the stored manifest could not be used as is: what happened, for status and the log. */
  recovered?: string;
}

/** A valid manifest that belongs to another root or remote: using it could delete the wrong files. */
export class ManifestMismatchError extends Error {
  override readonly name = 'ManifestMismatchError';
  constructor(
    readonly file: string,
    readonly found: { root: string; remoteId: string },
    readonly expected: { root: string; remoteId: string },
  ) {
    super(
      `manifest ${file} was written for root ${found.root} / remote ${found.remoteId}; ` +
        `this pair is ${expected.root} / ${expected.remoteId}: move it away or fix the config`,
    );
  }
}

/**
 * lowdb reads `null` as "no file"; a file that says `null` is corrupt, not a first run. Typed as
 * the adapter's data for lowdb, but really an unchecked ManifestDocument (entries an object):
 * load() validates it, then builds the Map.
 */
function parseDocument(text: string): Manifest {
  const doc = JSON.parse(text) as unknown;
  if (doc === null) throw new SyntaxError('the document is null');
  return doc as Manifest;
}

/**
 * Whether a key is an array index ("0" to "4294967294", no leading zero). A JSON object lists
 * those first, in ascending order, then the other keys in insertion order (V8 and the spec's
 * OrdinaryOwnPropertyKeys): the file's key order, which the Map alone does not keep.
 */
function isArrayIndex(k: string): boolean {
  const c = k.charCodeAt(0);
  if (c < 48 || c > 57) return false; // the common case: not a digit
  return /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) <= 4_294_967_294;
}

/** The entries in the order JSON.stringify of the same object writes them (see isArrayIndex). */
function* documentOrder(entries: BaseSnapshot): Generator<[string, BaseEntry]> {
  const indices: string[] = [];
  for (const k of entries.keys()) if (isArrayIndex(k)) indices.push(k);
  if (indices.length > 0) {
    indices.sort((a, b) => Number(a) - Number(b));
    for (const k of indices) yield [k, entries.get(k) as BaseEntry];
  }
  for (const [k, e] of entries) if (indices.length === 0 || !isArrayIndex(k)) yield [k, e];
}

/** Characters of JSON handed to one file write. @default 1 MiB */
const CHUNK_CHARS = 1 << 20;

/**
 * `JSON.stringify(toDocument(m))` (the file as it always was), exactly, in pieces of about
 * `chunkChars` characters, straight from the Map. A manifest of 100,000 entries is 24 MB of
 * JSON: as one string plus its UTF-8 copy that is ~64 MiB on top of the daemon's heap at every
 * write; in pieces, about two chunks.
 */
export function* manifestChunks(m: Manifest, chunkChars = CHUNK_CHARS): Generator<string> {
  let out = '{';
  let sep = '';
  // The document's own fields in its own order, as JSON.stringify writes them.
  for (const [field, value] of Object.entries(m)) {
    if (field !== 'entries') {
      const json = JSON.stringify(value);
      if (json === undefined) continue; // JSON.stringify leaves out undefined fields
      out += `${sep}${JSON.stringify(field)}:${json}`;
      sep = ',';
      continue;
    }
    out += `${sep}"entries":{`;
    sep = ',';
    let entrySep = '';
    for (const [p, e] of documentOrder(value as Manifest['entries'])) {
      const json = JSON.stringify(e);
      if (json === undefined) continue;
      out += `${entrySep}${JSON.stringify(p)}:${json}`;
      entrySep = ',';
      if (out.length >= chunkChars) {
        yield out;
        out = '';
      }
    }
    out += '}';
  }
  yield `${out}}`;
}

/**
 * The manifest file as a lowdb adapter. Reads as lowdb's TextFile does; writes like its steno
 * writer (temp file `.<name>.tmp` in the same folder, renamed over the name: a reader or a crash
 * sees the old file or the new one, never half of one), but streams the JSON in chunks. No
 * indent: nobody edits this file by hand, and it is a third smaller.
 */
class ManifestFile implements Adapter<Manifest> {
  readonly #file: string;
  readonly #tmp: string;

  constructor(file: string) {
    this.#file = file;
    this.#tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  }

  async read(): Promise<Manifest | null> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if (isCode(err, 'ENOENT')) return null;
      throw err;
    }
    return parseDocument(text);
  }

  async write(m: Manifest): Promise<void> {
    try {
      const fh = await open(this.#tmp, 'w');
      try {
        for (const chunk of manifestChunks(m)) await fh.write(chunk);
      } finally {
        await fh.close();
      }
      await rename(this.#tmp, this.#file);
    } catch (err) {
      // The manifest itself is untouched; a half-written temp file is of no use to anyone.
      await unlink(this.#tmp).catch(() => undefined);
      throw err;
    }
  }
}

export function manifestFile(stateDir: string, pair: string): string {
  return path.join(stateDir, `${pair}.manifest.json`);
}

type Loaded = { kind: 'missing' } | { kind: 'bad'; problem: string } | { kind: 'ok'; manifest: Manifest };

/** Reads through lowdb; a parse error or a failed validation is "bad", never a throw. */
async function load(adapter: Adapter<Manifest>): Promise<Loaded> {
  const db = new Low<Manifest | null>(adapter as Adapter<Manifest | null>, null);
  try {
    await db.read();
  } catch (err) {
    // Unreadable (permissions, a folder in the way) is not corruption: the user must act.
    if (!(err instanceof SyntaxError)) throw err;
    return { kind: 'bad', problem: `not JSON: ${err.message}` };
  }
  if (db.data === null) return { kind: 'missing' };
  const checked = checkedManifest(db.data);
  if (!checked.ok) return { kind: 'bad', problem: checked.problems.slice(0, 3).join('; ') };
  return { kind: 'ok', manifest: checked.manifest };
}

/**
 * The cheap check a save makes: the document's own fields, not its entries. The entries were just
 * built by our typed code (applyResults), and checking 100,000 of them cost 0.1–0.5 s per write,
 * more than the rest of the save. A damaged entry on disk is still caught on load, by
 * checkedManifest (every entry), and recovered from there (set aside, last good copy or a first run).
 */
export function shapeProblems(doc: unknown): string[] {
  if (doc === null || typeof doc !== 'object') return ['not an object'];
  const m = doc as Partial<Record<keyof Manifest, unknown>>;
  const problems: string[] = [];
  if (m.version !== MANIFEST_VERSION) problems.push(`unknown version ${String(m.version)}`);
  for (const k of ['pair', 'root', 'remoteId', 'hashAlgo'] as const) {
    if (typeof m[k] !== 'string') problems.push(`missing ${k}`);
  }
  // In memory the entries are a Map (manifestChunks writes it as the JSON object).
  if (!(m.entries instanceof Map)) problems.push('missing entries');
  return problems;
}

/** `20260122-041928-123`, UTC: sorts by time and rarely collides. */
function stamp(now: Date): string {
  const iso = now.toISOString(); // 2026-01-22T04:19:28.123Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${iso.slice(20, 23)}`;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

export class ManifestStore {
  readonly #db: Low<Manifest>;
  /** Null with an injected adapter: no file, so nothing to back up. */
  readonly #file: string | null;
  /** The manifest last read or written: saving the same object again is a no-op. */
  #last: Manifest;
  /** Whether the file on disk is a valid manifest we may keep as `.bak` before overwriting it. */
  #diskValid: boolean;
  /** Saves run one after another, so a backup never interleaves with a write. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(db: Low<Manifest>, file: string | null, last: Manifest, diskValid: boolean) {
    this.#db = db;
    this.#file = file;
    this.#last = last;
    this.#diskValid = diskValid;
  }

  static async open(opts: OpenStoreOptions): Promise<OpenedStore> {
    const file = opts.adapter === undefined ? manifestFile(opts.stateDir, opts.pair) : null;
    if (file !== null) await mkdir(opts.stateDir, { recursive: true });
    const adapter = opts.adapter ?? new ManifestFile(file as string);
    const label = file ?? `${opts.pair} (in memory)`;
    const fresh = emptyManifest(opts.pair, opts.root, opts.remoteId, opts.hashAlgo);
    const belongs = (m: Manifest): boolean => m.root === opts.root && m.remoteId === opts.remoteId;
    const make = (m: Manifest, diskValid: boolean): ManifestStore =>
      new ManifestStore(new Low(adapter, m), file, m, diskValid);

    const main = await load(adapter);
    if (main.kind === 'missing') return { store: make(fresh, false), manifest: fresh };
    if (main.kind === 'ok') {
      const m = main.manifest;
      if (!belongs(m)) {
        throw new ManifestMismatchError(label, m, { root: opts.root, remoteId: opts.remoteId });
      }
      if (m.hashAlgo !== opts.hashAlgo) {
        // Local hashes of another algorithm cannot be compared; no base is the safe reading.
        const recovered =
          `manifest ${label} holds ${m.hashAlgo} hashes but this pair uses ${opts.hashAlgo}; ` +
          'starting as a first run (nothing is deleted; equal files are adopted)';
        return { store: make(fresh, true), manifest: fresh, recovered };
      }
      return { store: make(m, true), manifest: m };
    }

    // Corrupt: keep it aside for inspection, then try the last good copy.
    let why = `manifest ${label} was corrupt (${main.problem})`;
    if (file === null) {
      return { store: make(fresh, false), manifest: fresh, recovered: `${why}; starting as a first run` };
    }
    const aside = `${file}.corrupt-${stamp(new Date())}`;
    await rename(file, aside);
    why += `; kept as ${path.basename(aside)}`;
    const bak = await load(new ManifestFile(`${file}.bak`));
    if (bak.kind === 'ok' && belongs(bak.manifest) && bak.manifest.hashAlgo === opts.hashAlgo) {
      const store = make(bak.manifest, false);
      // Write it back now, so a crash before the next pass does not look like a first run.
      await store.#write(bak.manifest);
      return { store, manifest: bak.manifest, recovered: `${why}; restored the last good copy` };
    }
    const bakNote = bak.kind === 'missing' ? 'no last good copy' : 'the last good copy is unusable too';
    return {
      store: make(fresh, false),
      manifest: fresh,
      recovered: `${why}; ${bakNote}; starting as a first run (nothing is deleted)`,
    };
  }

  /** Writes the manifest atomically, keeping the previous good file as `.bak`. */
  save(m: Manifest): Promise<void> {
    const run = this.#queue.then(() => this.#save(m));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #save(m: Manifest): Promise<void> {
    if (m === this.#last) return;
    const problems = shapeProblems(m);
    // A bad manifest would be refused on the next start; better to fail the save loudly now.
    if (problems.length > 0) throw new Error(`refusing to save an invalid manifest: ${problems.join('; ')}`);
    if (this.#file !== null) await this.#backup(this.#file);
    await this.#write(m);
  }

  async #write(m: Manifest): Promise<void> {
    this.#db.data = m;
    await this.#db.write();
    this.#last = m;
    this.#diskValid = true;
  }

  async #backup(file: string): Promise<void> {
    const bak = `${file}.bak`;
    if (!this.#diskValid) {
      // No good file to keep: drop a `.bak` of an older lineage so it is never restored over ours.
      await unlink(bak).catch((err: unknown) => {
        if (!isCode(err, 'ENOENT')) throw err;
      });
      return;
    }
    const tmp = `${bak}.tmp`;
    await unlink(tmp).catch(() => undefined);
    try {
      // A hard link is free: the writer renames a new file over the name, the old inode lives on.
      await link(file, tmp);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      await copyFile(file, tmp); // filesystems without hard links
    }
    await rename(tmp, bak);
    // When `.bak` is already this very file (a write failed after the last backup), the two names
    // are links to one inode and rename does nothing (POSIX): the temp name would stay behind.
    await unlink(tmp).catch(() => undefined);
  }
}
