// Properties of the planner over random base/local/remote trees, for every direction × delete
// mode: no version is ever lost, a plan applied and planned again yields nothing, in `both` the
// two sides end up holding the same contents (except deletes a `keep` tombstone remembers), and
// the manifest never says two different contents agree. The simulator lives in helpers/fixtures.

import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { isConflictCopy } from '../agent/conflicts.js';
import { plan } from '../agent/planner.js';
import type {
  BaseEntry,
  DeleteMode,
  Direction,
  LocalBase,
  LocalFile,
  RemoteBase,
  RemoteObject,
  SyncPolicy,
} from '../agent/types.js';
import { ALL_DELETES, ALL_DIRECTIONS, contentOf, describeAction, simulate, type World } from './helpers/fixtures.js';

/** A small alphabet, so paths collide in every interesting way (moves, folders, dotfiles). */
const PATHS = ['a', 'b', 'd/a', 'd/b.txt', '.e'] as const;
/** h1 and h3 share a size: only the hash tells them apart. */
const CONTENTS = ['h1', 'h2', 'h3'] as const;
const sizeOf = (c: string): number => (c === 'h2' ? 200 : 100);
const PASS = new Date(Date.UTC(2025, 5, 6, 7, 8, 9));
const RUNS = 1_000;

const pathState = fc.record({
  base: fc.constantFrom('none', 'both', 'keepLocal', 'keepRemote'),
  baseContent: fc.constantFrom(...CONTENTS),
  baseHashKnown: fc.boolean(),
  local: fc.constantFrom('absent', 'unchanged', 'touched', 'new'),
  localContent: fc.constantFrom(...CONTENTS),
  // A tiny range of times, so conflict winners tie often.
  localSec: fc.integer({ min: 1, max: 4 }),
  remote: fc.constantFrom('absent', 'unchanged', 'retokened', 'new'),
  remoteContent: fc.constantFrom(...CONTENTS),
  remoteHashKnown: fc.boolean(),
  remoteSec: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
});
type PathState = typeof pathState extends fc.Arbitrary<infer T> ? T : never;
const trees = fc.tuple(...PATHS.map(() => pathState));

const withHash = <T extends object>(o: T, hash: string, known: boolean): T & { hash?: string } =>
  known ? { ...o, hash } : o;

/** Builds a world from one random state per path. */
function worldFrom(states: readonly PathState[]): World {
  const base = new Map<string, BaseEntry>();
  const local = new Map<string, LocalFile>();
  const remote = new Map<string, RemoteObject>();
  const contents = new Map<string, string>();
  states.forEach((s, i) => {
    const path = PATHS[i] ?? 'x';
    const c0 = s.baseContent;
    const baseToken = `${c0}#base-${path}`;
    contents.set(baseToken, c0);
    const lb: LocalBase | undefined =
      s.base === 'both' || s.base === 'keepLocal' ? { size: sizeOf(c0), mtimeMs: 1_000, ino: i + 1, hash: c0 } : undefined;
    const rb: RemoteBase | undefined =
      s.base === 'both' || s.base === 'keepRemote'
        ? withHash({ token: baseToken, size: sizeOf(c0) }, c0, s.baseHashKnown)
        : undefined;
    if (lb || rb) base.set(path, { ...(lb ? { local: lb } : {}), ...(rb ? { remote: rb } : {}) });

    if (s.local === 'unchanged' && lb) local.set(path, { path, ...lb });
    if (s.local === 'touched' && lb) local.set(path, { path, ...lb, mtimeMs: 1_000 + s.localSec * 1_000 });
    if (s.local === 'new') {
      const c = s.localContent;
      local.set(path, { path, size: sizeOf(c), mtimeMs: s.localSec * 1_000, ino: 100 + i, hash: c });
    }

    const mtime = s.remoteSec === undefined ? {} : { mtimeMs: s.remoteSec * 1_000 };
    if (s.remote === 'unchanged' && rb) remote.set(path, { path, ...rb, ...mtime });
    if (s.remote === 'retokened' && rb) {
      const token = `${c0}#re-${path}`;
      contents.set(token, c0);
      remote.set(path, { path, token, size: sizeOf(c0), hash: c0, ...mtime });
    }
    if (s.remote === 'new') {
      const c = s.remoteContent;
      const token = `${c}#new-${path}`;
      contents.set(token, c);
      remote.set(path, withHash({ path, token, size: sizeOf(c), uploadedMs: 500, ...mtime }, c, s.remoteHashKnown));
    }
  });
  return { base, local, remote, contents };
}

const remoteContent = (w: World, p: string): string | undefined => {
  const o = w.remote.get(p);
  return o === undefined ? undefined : contentOf(w, o);
};
const baseRemoteContent = (w: World, p: string): string | undefined => {
  const token = w.base.get(p)?.remote?.token;
  return token === undefined ? undefined : w.contents.get(token);
};

/** Every version the base does not know, as [path, content]. */
function newVersions(w: World): [string, string][] {
  const out: [string, string][] = [];
  for (const [p, f] of w.local) if (f.hash !== w.base.get(p)?.local?.hash) out.push([p, f.hash ?? '?']);
  for (const p of w.remote.keys()) {
    const c = remoteContent(w, p);
    if (c !== undefined && c !== baseRemoteContent(w, p)) out.push([p, c]);
  }
  return out;
}

function check(states: readonly PathState[], policy: SyncPolicy): void {
  const before = worldFrom(states);
  const p = plan(before.base, before.local, before.remote, policy);
  const after = simulate(before, p, PASS, sizeOf);

  // Deletes only ever remove the version the base knows; `keep` never deletes.
  for (const a of p.actions) {
    if (a.kind === 'deleteLocal') assert.equal(a.expectLocal.hash, before.base.get(a.path)?.local?.hash, describeAction(a));
    if (a.kind === 'deleteRemote') assert.equal(contentOf(before, a.expectRemote), baseRemoteContent(before, a.path));
    if (policy.deletes === 'keep') assert.ok(!/^(delete|trash)/.test(describeAction(a)), describeAction(a));
  }

  // (1) No version is lost: each new version is still at its path, or kept as a conflict copy.
  const holds = (q: string, c: string) => after.local.get(q)?.hash === c || remoteContent(after, q) === c;
  const copies = [...new Set([...after.local.keys(), ...after.remote.keys()])].filter(isConflictCopy);
  for (const [path, c] of newVersions(before)) {
    assert.ok(holds(path, c) || copies.some((q) => holds(q, c)), `version ${c} of ${path} was lost`);
  }

  // One-way modes never write the side they only read.
  if (policy.direction === 'push') assert.deepEqual(after.local, before.local, 'push changed the local side');
  if (policy.direction === 'pull') assert.deepEqual(after.remote, before.remote, 'pull changed the remote side');

  // The manifest never records agreement on different contents.
  for (const [q, e] of after.base) {
    if (e.local && e.remote) assert.equal(e.local.hash, after.contents.get(e.remote.token), `${q}: base sides disagree`);
  }

  // (2) Idempotence: the applied plan leaves nothing to do, not even a record-only update.
  const again = plan(after.base, after.local, after.remote, policy);
  assert.deepEqual(again.actions.map(describeAction), [], 'planning again yields actions');
  assert.deepEqual([...again.baseUpdates.keys()], [], 'planning again yields base updates');

  // (3) In `both` the sides converge, except where a keep-tombstone remembers a delete.
  if (policy.direction === 'both') {
    for (const q of new Set([...after.local.keys(), ...after.remote.keys()])) {
      const l = after.local.get(q)?.hash;
      const r = remoteContent(after, q);
      if (l === r) continue;
      const e = after.base.get(q);
      const tombstone = e !== undefined && (e.local === undefined) !== (e.remote === undefined);
      assert.ok(tombstone && (l === undefined) === (e.local === undefined), `${q} differs: local ${l}, remote ${r}`);
      const wasTombstone = before.base.get(q) !== undefined && (before.base.get(q)?.local === undefined) !== (before.base.get(q)?.remote === undefined);
      assert.ok(policy.deletes === 'keep' || wasTombstone, `${q}: a tombstone outside deletes=keep`);
    }
  }
}

for (const direction of ALL_DIRECTIONS as readonly Direction[]) {
  for (const deletes of ALL_DELETES as readonly DeleteMode[]) {
    test(`random trees keep every version, settle in one pass, converge [${direction}/${deletes}]`, (t) => {
      fc.assert(
        fc.property(trees, fc.boolean(), (states, canMoveRemote) => check(states, { direction, deletes, canMoveRemote })),
        { numRuns: RUNS },
      );
      t.pass();
    });
  }
}
