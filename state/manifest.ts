// The manifest: per pair, the base version both sides agreed on last. A versioned document,
// replaced whole by pure functions (never edited in place), written once per pass. In memory its
// entries are a Map (a pass looks paths up and copies it at most once); on disk a JSON object.

import type { ActionResult, BaseEntry, BaseSnapshot } from '../agent/types.js';

export const MANIFEST_VERSION = 1;

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly pair: string;
  /** Absolute local root this manifest was written for. */
  readonly root: string;
  /** Provider's remoteId (bucket + prefix, or folder) this manifest was written for. */
  readonly remoteId: string;
  /** Hash algorithm of `local.hash` in the entries. */
  readonly hashAlgo: string;
  /**
   * Path -> base. A Map, not an object: at 100,000 paths an object is in dictionary mode and
   * every pass copied it whole (`{ ...entries }`), 100 MiB of large-object garbage per burst.
   */
  readonly entries: BaseSnapshot;
}

/** The manifest as the file holds it (and `JSON.parse` returns it): entries as a JSON object. */
export interface ManifestDocument extends Omit<Manifest, 'entries'> {
  readonly entries: Readonly<Record<string, BaseEntry>>;
}

export function emptyManifest(pair: string, root: string, remoteId: string, hashAlgo: string): Manifest {
  return { version: MANIFEST_VERSION, pair, root, remoteId, hashAlgo, entries: new Map() };
}

/** The in-memory form of a document that passed `validateManifest`. */
export function fromDocument(doc: ManifestDocument): Manifest {
  return { ...doc, entries: new Map(Object.entries(doc.entries)) };
}

/**
 * The document the file holds, as a plain object (JSON.stringify of it is the file's bytes).
 * Builds the whole entries object: for tests and benches, not for the daemon's write path
 * (state/store.ts streams the same bytes from the Map).
 */
export function toDocument(m: Manifest): ManifestDocument {
  const { entries, ...head } = m;
  return { ...head, entries: Object.fromEntries(entries) };
}

/** The same bytes on disk: an update that rewrites an entry with equal fields changes nothing. */
const sameEntry = (a: BaseEntry | undefined, b: BaseEntry): boolean => a === b || (a !== undefined && JSON.stringify(a) === JSON.stringify(b));

/**
 * Folds updates (`null` removes) into a new manifest. Copies the entries once, at the first
 * update that changes something; when none does, returns `m` itself (and the store then skips
 * the write: the file already says this).
 */
export function withUpdates(m: Manifest, updates: ReadonlyMap<string, BaseEntry | null>): Manifest {
  let entries: Map<string, BaseEntry> | undefined;
  for (const [p, e] of updates) {
    const current = (entries ?? m.entries).get(p);
    const gone = e === null || (e.local === undefined && e.remote === undefined);
    if (gone ? current === undefined : sameEntry(current, e)) continue;
    entries ??= new Map(m.entries);
    if (gone) entries.delete(p);
    else entries.set(p, e);
  }
  return entries === undefined ? m : { ...m, entries };
}

/**
 * Commit results, not intentions: the plan's record-only updates plus what each action that
 * really happened reports. Failed and stale actions leave their entries alone.
 */
export function applyResults(
  m: Manifest,
  baseUpdates: ReadonlyMap<string, BaseEntry | null>,
  results: readonly ActionResult[],
): Manifest {
  const merged = new Map(baseUpdates);
  for (const r of results) if (r.status === 'done') for (const [p, e] of r.updates) merged.set(p, e);
  return withUpdates(m, merged);
}

export type ManifestProblem = string;

/** Problems with the document's own fields (version, names, an entries object); entries unchecked. */
function headProblems(doc: unknown): ManifestProblem[] {
  if (doc === null || typeof doc !== 'object') return ['not an object'];
  const problems: string[] = [];
  const m = doc as Partial<Omit<Manifest, 'entries'>> & { entries?: unknown };
  if (m.version !== MANIFEST_VERSION) problems.push(`unknown version ${String(m.version)}`);
  for (const k of ['pair', 'root', 'remoteId', 'hashAlgo'] as const) {
    if (typeof m[k] !== 'string') problems.push(`missing ${k}`);
  }
  if (m.entries === null || typeof m.entries !== 'object') problems.push('missing entries');
  return problems;
}

/** An entry the planner could not read (a number where a hash belongs, a null). */
function badEntry(e: unknown): boolean {
  if (e === null || typeof e !== 'object') return true;
  const { local, remote } = e as Partial<BaseEntry>;
  return (
    (local !== undefined && (typeof local.size !== 'number' || typeof local.hash !== 'string')) ||
    (remote !== undefined && (typeof remote.token !== 'string' || typeof remote.size !== 'number'))
  );
}

/**
 * Checks a parsed document is a manifest of this version; returns problems (empty = valid). An
 * in-memory manifest (entries in a Map, as a test's lowdb `Memory` adapter hands back) is checked
 * the same way.
 */
export function validateManifest(doc: unknown): ManifestProblem[] {
  const problems = headProblems(doc);
  if (problems.length > 0) return problems;
  const raw = (doc as { entries: object }).entries;
  const entries: Iterable<[string, unknown]> = raw instanceof Map ? (raw as Map<string, unknown>) : Object.entries(raw);
  for (const [p, e] of entries) if (badEntry(e)) return [`bad entry ${JSON.stringify(p)}`];
  return [];
}

/**
 * validateManifest and fromDocument in one walk over the entries: the manifest is read before
 * a pass sends its first request, and at 100,000 entries each Object.entries of the parsed
 * object took ~150 ms (two of them, before this). A Map-backed manifest is checked and kept.
 */
export function checkedManifest(doc: unknown): { ok: true; manifest: Manifest } | { ok: false; problems: ManifestProblem[] } {
  const problems = headProblems(doc);
  if (problems.length > 0) return { ok: false, problems };
  const d = doc as Manifest | ManifestDocument;
  if (d.entries instanceof Map) {
    const bad = validateManifest(d);
    return bad.length > 0 ? { ok: false, problems: bad } : { ok: true, manifest: d as Manifest };
  }
  const raw: Readonly<Record<string, unknown>> = (d as ManifestDocument).entries;
  const entries = new Map<string, BaseEntry>();
  // for...in over JSON.parse's object: own keys only, in the order Object.entries gives them.
  for (const p in raw) {
    const e = raw[p];
    if (badEntry(e)) return { ok: false, problems: [`bad entry ${JSON.stringify(p)}`] };
    entries.set(p, e as BaseEntry);
  }
  return { ok: true, manifest: { ...d, entries } };
}
