// The part of the base a pass plans, and the tracked counts its guards need, read from the
// manifest's own map without copying it: a scoped cycle (the daemon's fast path, a handful of
// changed paths) used to copy all 100,000 entries twice to keep ten.

import type { BaseEntry, BaseSnapshot } from './types.js';

export interface ScopedBase {
  /** The entries in scope; the manifest's map itself when everything is (no copy). */
  readonly base: BaseSnapshot;
  /** Entries with a local side, over the whole base: the guards weigh deletes against all. */
  readonly tracked: number;
  /** Entries with a remote side, over the whole base. */
  readonly trackedRemote: number;
}

/**
 * Whether a scope entry is a folder above `p`: what `inScope` (agent/paths.ts) asks of `p`'s
 * ancestors, without cutting them out of `p`. Asked of all 100,000 keys, the slices were
 * 10 MiB of garbage per cycle; entries are grouped by length so that only a `/` at that length
 * in `p` leads to a comparison.
 */
function ancestorTest(scope: ReadonlySet<string>): (p: string) => boolean {
  const byLength = new Map<number, string[]>();
  for (const s of scope) {
    if (s === '') continue;
    const same = byLength.get(s.length);
    if (same) same.push(s);
    else byLength.set(s.length, [s]);
  }
  return (p) => {
    for (let i = p.indexOf('/', 1); i !== -1; i = p.indexOf('/', i + 1)) {
      const candidates = byLength.get(i);
      if (candidates) for (const s of candidates) if (p.startsWith(s)) return true;
    }
    return false;
  };
}

/**
 * The scoped paths are looked up; what lies under a scoped folder (one that vanished too: its
 * files must be planned as deleted) is found in the one walk over the map that counts.
 */
export function scopeBase(entries: BaseSnapshot, scope: ReadonlySet<string> | undefined): ScopedBase {
  const whole = scope === undefined || scope.has('');
  let scoped: Map<string, BaseEntry> | undefined;
  let under: ((p: string) => boolean) | undefined;
  if (!whole) {
    under = ancestorTest(scope);
    scoped = new Map();
    for (const p of scope) {
      const e = entries.get(p);
      if (e) scoped.set(p, e);
    }
  }
  let tracked = 0;
  let trackedRemote = 0;
  // forEach, not for-of: no [key, value] pair allocated per entry (100,000 of them per cycle).
  entries.forEach((e, p) => {
    if (e.local) tracked++;
    if (e.remote) trackedRemote++;
    if (scoped && under?.(p)) scoped.set(p, e);
  });
  return { base: scoped ?? entries, tracked, trackedRemote };
}
