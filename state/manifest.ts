// The manifest: per pair, the base version both sides agreed on last. A versioned plain document,
// replaced whole by pure functions (never edited in place), written once per pass.

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
  readonly entries: Readonly<Record<string, BaseEntry>>;
}

export function emptyManifest(pair: string, root: string, remoteId: string, hashAlgo: string): Manifest {
  return { version: MANIFEST_VERSION, pair, root, remoteId, hashAlgo, entries: {} };
}

export function baseSnapshot(m: Manifest): BaseSnapshot {
  return new Map(Object.entries(m.entries));
}

/** Folds updates (`null` removes) into a new manifest. */
export function withUpdates(m: Manifest, updates: ReadonlyMap<string, BaseEntry | null>): Manifest {
  if (updates.size === 0) return m;
  const entries: Record<string, BaseEntry> = { ...m.entries };
  for (const [p, e] of updates) {
    if (e === null || (e.local === undefined && e.remote === undefined)) delete entries[p];
    else entries[p] = e;
  }
  return { ...m, entries };
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

/** Checks a parsed document is a manifest of this version; returns problems (empty = valid). */
export function validateManifest(doc: unknown): ManifestProblem[] {
  const problems: string[] = [];
  if (doc === null || typeof doc !== 'object') return ['not an object'];
  const m = doc as Partial<Manifest>;
  if (m.version !== MANIFEST_VERSION) problems.push(`unknown version ${String(m.version)}`);
  for (const k of ['pair', 'root', 'remoteId', 'hashAlgo'] as const) {
    if (typeof m[k] !== 'string') problems.push(`missing ${k}`);
  }
  if (m.entries === null || typeof m.entries !== 'object') problems.push('missing entries');
  else {
    for (const [p, e] of Object.entries(m.entries)) {
      const bad =
        e === null ||
        typeof e !== 'object' ||
        (e.local !== undefined && (typeof e.local.size !== 'number' || typeof e.local.hash !== 'string')) ||
        (e.remote !== undefined && (typeof e.remote.token !== 'string' || typeof e.remote.size !== 'number'));
      if (bad) {
        problems.push(`bad entry ${JSON.stringify(p)}`);
        break;
      }
    }
  }
  return problems;
}
