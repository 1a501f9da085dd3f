// The planner's truth table (PRODUCT.md §3), one row per case, run under every listed mode.
// Every row also checks: each action's expect* is what the planner saw; nothing is deleted
// without a base; and planning again after the plan is applied yields nothing (idempotence).

import test from 'ava';
import { plan } from '../agent/planner.js';
import type { Action, DeleteMode, Direction, SyncPolicy } from '../agent/types.js';
import {
  B,
  Bk,
  L1,
  L2,
  L3,
  R1,
  R2,
  R3,
  describeAction,
  retokened,
  row,
  simulate,
  touched,
  unhashed,
  worldOf,
  type Row,
  type World,
} from './helpers/fixtures.js';

const BOTH: Direction[] = ['both'];
const PUSH: Direction[] = ['push'];
const PULL: Direction[] = ['pull'];
const UP: Direction[] = ['both', 'push'];
const DOWN: Direction[] = ['both', 'pull'];
const PROPAGATE: DeleteMode[] = ['propagate'];
const KEEP: DeleteMode[] = ['keep'];
const TRASH: DeleteMode[] = ['trash'];
const REMOVING: DeleteMode[] = ['propagate', 'trash'];

const synced = { base: { f: B(L1, R1) }, remote: { f: R1 } };

// A whole tree at once: every kind of row in one pass, output sorted by path.
const mixedTree = row('mixed tree: every kind of row in one pass, sorted by path', {
  directions: BOTH, deletes: PROPAGATE,
  base: { z: B(L1, R1), y: B(L1, R1), x: B(L1, R1), w: B(L1, R1), v: B(L1, R1), u: B(L1, R1) },
  local: { z: L2, y: L1, x: L1, w: L2, v: touched(L1), n: L3 },
  remote: { z: R1, y: R2, w: R3, v: R1, u: R1, m: R2 },
  actions: ['download m', 'upload n', 'delete-remote u', 'conflict w', 'delete-local x', 'download y', 'upload z'],
  updates: { v: B(touched(L1), R1) },
});

const rows: Row[] = [
  // --- unchanged / unchanged
  row('both unchanged: nothing', { ...synced, local: { f: L1 }, actions: [] }),
  row('local touched (same hash, new stat): stat refresh only, no upload', {
    ...synced, local: { f: touched(L1) }, actions: [], updates: { f: B(touched(L1), R1) },
  }),
  row('remote re-tokened with the same hash: token refresh only, no download', {
    ...synced, local: { f: L1 }, remote: { f: retokened(R1) }, actions: [], updates: { f: B(L1, retokened(R1)) },
  }),
  row('touched and re-tokened: one record-only update carrying both', {
    ...synced, local: { f: touched(L1) }, remote: { f: retokened(R1) }, actions: [],
    updates: { f: B(touched(L1), retokened(R1)) },
  }),
  row('remote newer upload time but same token: unchanged (tokens, not timestamps)', {
    ...synced, local: { f: L1 }, remote: { f: { ...R1, uploadedMs: 9_999, mtimeMs: 9_999 } }, actions: [],
  }),
  row('remote new token without a hash: a change, downloaded', {
    directions: DOWN, ...synced, local: { f: L1 }, remote: { f: unhashed(R1) }, actions: ['download f'],
  }),
  row('remote new token without a hash, push: nothing', {
    directions: PUSH, ...synced, local: { f: L1 }, remote: { f: unhashed(R1) }, actions: [],
  }),

  // --- local changed or new, remote unchanged or absent
  row('local changed, remote unchanged: upload', {
    directions: UP, ...synced, local: { f: L2 }, actions: ['upload f'],
  }),
  row('local changed, remote unchanged, pull: nothing (remote wins its next change)', {
    directions: PULL, ...synced, local: { f: L2 }, actions: [],
  }),
  row('local changed to same size, other hash: upload (hash, not size, decides)', {
    directions: UP, ...synced, local: { f: L3 }, actions: ['upload f'],
  }),
  row('local changed while remote only re-tokened: upload over the re-tokened object', {
    directions: UP, ...synced, local: { f: L2 }, remote: { f: retokened(R1) }, actions: ['upload f'],
  }),
  row('new local file: upload', { directions: UP, local: { f: L1 }, actions: ['upload f'] }),
  row('new local file, pull: nothing', { directions: PULL, local: { f: L1 }, actions: [] }),

  // --- remote changed or new, local unchanged or absent
  row('remote changed, local unchanged: download', {
    directions: DOWN, ...synced, local: { f: L1 }, remote: { f: R2 }, actions: ['download f'],
  }),
  row('remote changed, local unchanged, push: nothing', {
    directions: PUSH, ...synced, local: { f: L1 }, remote: { f: R2 }, actions: [],
  }),
  row('remote changed, local only touched: download (a touch is not a change)', {
    directions: DOWN, ...synced, local: { f: touched(L1) }, remote: { f: R2 }, actions: ['download f'],
  }),
  row('remote changed, local only touched, push: nothing but the stat refresh', {
    directions: PUSH, ...synced, local: { f: touched(L1) }, remote: { f: R2 }, actions: [],
    updates: { f: B(touched(L1), R1) },
  }),
  row('new remote object: download', { directions: DOWN, remote: { f: R1 }, actions: ['download f'] }),
  row('new remote object, push: nothing', { directions: PUSH, remote: { f: R1 }, actions: [] }),

  // --- both changed
  row('both changed to the same content: record only', {
    ...synced, local: { f: L2 }, remote: { f: R2 }, actions: [], updates: { f: B(L2, R2) },
  }),
  row('both changed, different content: conflict', {
    ...synced, local: { f: L2 }, remote: { f: R3 }, actions: ['conflict f'],
  }),
  row('both changed, same size but different hash: conflict', {
    base: { f: B(L2, R2) }, local: { f: L1 }, remote: { f: R3 }, actions: ['conflict f'],
  }),
  row('both changed, remote hash unknown, same size: conflict (the executor compares first)', {
    ...synced, local: { f: L2 }, remote: { f: unhashed(R2) }, actions: ['conflict f'],
  }),
  row('both changed, remote hash unknown, different size: conflict', {
    ...synced, local: { f: L2 }, remote: { f: unhashed(R3) }, actions: ['conflict f'],
  }),

  // --- no base: first run, lost manifest
  row('first run, equal content: adopted without transfer', {
    local: { f: L1 }, remote: { f: R1 }, actions: [], updates: { f: B(L1, R1) },
  }),
  row('first run, different content: conflict', { local: { f: L1 }, remote: { f: R2 }, actions: ['conflict f'] }),
  row('first run, same size and unknown remote hash: conflict for the executor to compare', {
    local: { f: L1 }, remote: { f: unhashed(R1) }, actions: ['conflict f'],
  }),
  row('lost manifest, both: copies each way, never a delete', {
    directions: BOTH,
    local: { a: L1, c: L1, d: L1 }, remote: { b: R2, c: R1, d: R3 },
    actions: ['upload a', 'download b', 'conflict d'], updates: { c: B(L1, R1) },
  }),
  row('lost manifest, push: uploads only', {
    directions: PUSH,
    local: { a: L1, c: L1, d: L1 }, remote: { b: R2, c: R1, d: R3 },
    actions: ['upload a', 'conflict d'], updates: { c: B(L1, R1) },
  }),
  row('lost manifest, pull: downloads only', {
    directions: PULL,
    local: { a: L1, c: L1, d: L1 }, remote: { b: R2, c: R1, d: R3 },
    actions: ['download b', 'conflict d'], updates: { c: B(L1, R1) },
  }),
  row('an empty leftover base entry is dropped', { base: { f: {} }, actions: [], updates: { f: null } }),
  row('an empty leftover base entry counts as no base: upload', {
    directions: UP, base: { f: {} }, local: { f: L1 }, actions: ['upload f'],
  }),

  // --- deleted vs unchanged
  row('local deleted, remote unchanged, propagate: delete remote', {
    directions: UP, deletes: PROPAGATE, ...synced, actions: ['delete-remote f'],
  }),
  row('local deleted, remote unchanged, trash: remote into the trash', {
    directions: UP, deletes: TRASH, ...synced, actions: ['trash-remote f'],
  }),
  row('local deleted, remote unchanged, keep: remember the delete, keep the remote', {
    directions: UP, deletes: KEEP, ...synced, actions: [], updates: { f: Bk(R1) },
  }),
  row('local deleted, remote unchanged, pull: download again', {
    directions: PULL, ...synced, actions: ['download f'],
  }),
  row('local deleted, remote only re-tokened: still a delete of an unchanged file', {
    directions: UP, deletes: PROPAGATE, base: { f: B(L1, R1) }, remote: { f: retokened(R1) },
    actions: ['delete-remote f'],
  }),
  row('remote deleted, local unchanged, propagate: delete local', {
    directions: DOWN, deletes: PROPAGATE, base: { f: B(L1, R1) }, local: { f: L1 }, actions: ['delete-local f'],
  }),
  row('remote deleted, local unchanged, trash: local into the trash', {
    directions: DOWN, deletes: TRASH, base: { f: B(L1, R1) }, local: { f: L1 }, actions: ['trash-local f'],
  }),
  row('remote deleted, local unchanged, keep: remember the delete, keep the local file', {
    directions: DOWN, deletes: KEEP, base: { f: B(L1, R1) }, local: { f: L1 }, actions: [], updates: { f: Bk(L1) },
  }),
  row('remote deleted, local only touched, keep: the tombstone keeps the fresh stat', {
    directions: DOWN, deletes: KEEP, base: { f: B(L1, R1) }, local: { f: touched(L1) }, actions: [],
    updates: { f: Bk(touched(L1)) },
  }),
  row('remote deleted, local unchanged, push: upload again', {
    directions: PUSH, base: { f: B(L1, R1) }, local: { f: L1 }, actions: ['upload f'],
  }),

  // --- deleted vs changed: the change wins
  row('local deleted, remote changed: download (a change beats a delete)', {
    directions: DOWN, base: { f: B(L1, R1) }, remote: { f: R2 }, actions: ['download f'],
  }),
  row('local deleted, remote changed, push: keep the remote, nothing', {
    directions: PUSH, base: { f: B(L1, R1) }, remote: { f: R2 }, actions: [],
  }),
  row('local changed, remote deleted: upload (a change beats a delete)', {
    directions: UP, base: { f: B(L1, R1) }, local: { f: L2 }, actions: ['upload f'],
  }),
  row('local changed, remote deleted, pull: keep the local file, nothing', {
    directions: PULL, base: { f: B(L1, R1) }, local: { f: L2 }, actions: [],
  }),
  row('both deleted: forget the entry', { base: { f: B(L1, R1) }, actions: [], updates: { f: null } }),

  // --- what deletes=keep remembered
  row('remembered local delete, remote unchanged: not copied back', {
    base: { f: Bk(R1) }, remote: { f: R1 }, actions: [],
  }),
  row('remembered local delete, remote changed: download', {
    directions: DOWN, base: { f: Bk(R1) }, remote: { f: R2 }, actions: ['download f'],
  }),
  row('remembered local delete, remote changed, push: nothing', {
    directions: PUSH, base: { f: Bk(R1) }, remote: { f: R2 }, actions: [],
  }),
  row('remembered local delete, recreated locally: upload', {
    directions: UP, base: { f: Bk(R1) }, local: { f: L2 }, remote: { f: R1 }, actions: ['upload f'],
  }),
  row('remembered local delete, recreated with the remote content: adopted', {
    base: { f: Bk(R1) }, local: { f: L1 }, remote: { f: R1 }, actions: [], updates: { f: B(L1, R1) },
  }),
  row('remembered local delete, then deleted remotely too: forget the entry', {
    base: { f: Bk(R1) }, actions: [], updates: { f: null },
  }),
  row('remembered remote delete, local unchanged: not copied back', {
    base: { f: Bk(L1) }, local: { f: L1 }, actions: [],
  }),
  row('remembered remote delete, local changed: upload', {
    directions: UP, base: { f: Bk(L1) }, local: { f: L2 }, actions: ['upload f'],
  }),
  row('remembered remote delete, recreated remotely: download', {
    directions: DOWN, base: { f: Bk(L1) }, local: { f: L1 }, remote: { f: R2 }, actions: ['download f'],
  }),
  row('remembered remote delete, then deleted locally too: forget the entry', {
    base: { f: Bk(L1) }, actions: [], updates: { f: null },
  }),

  // --- moves (local renames)
  row('local rename a -> b: one server-side move', {
    directions: UP, deletes: REMOVING, base: { a: B(L1, R1) }, local: { b: L1 }, remote: { a: R1 },
    actions: ['move a -> b'],
  }),
  row('folder rename d/x -> e/x: a move', {
    directions: UP, deletes: REMOVING, base: { 'd/x': B(L1, R1) }, local: { 'e/x': touched(L1) },
    remote: { 'd/x': R1 }, actions: ['move d/x -> e/x'],
  }),
  row('rename under keep: no move; upload b and remember the delete of a', {
    directions: UP, deletes: KEEP, base: { a: B(L1, R1) }, local: { b: L1 }, remote: { a: R1 },
    actions: ['upload b'], updates: { a: Bk(R1) },
  }),
  row('rename when the provider cannot move: delete + upload', {
    directions: UP, deletes: PROPAGATE, canMoveRemote: false, base: { a: B(L1, R1) }, local: { b: L1 },
    remote: { a: R1 }, actions: ['delete-remote a', 'upload b'],
  }),
  row('rename in pull: a downloaded again, b stays local only', {
    directions: PULL, base: { a: B(L1, R1) }, local: { b: L1 }, remote: { a: R1 }, actions: ['download a'],
  }),
  row('delete + add of other content: not a move', {
    directions: UP, deletes: PROPAGATE, base: { a: B(L1, R1) }, local: { b: L2 }, remote: { a: R1 },
    actions: ['delete-remote a', 'upload b'],
  }),
  row('delete + add of same size but other hash: not a move', {
    directions: UP, deletes: PROPAGATE, base: { a: B(L1, R1) }, local: { b: L3 }, remote: { a: R1 },
    actions: ['delete-remote a', 'upload b'],
  }),
  row('two deletes, one new copy: one move (first in path order), one delete', {
    directions: UP, deletes: PROPAGATE, base: { a: B(L1, R1), c: B(L1, R1) }, local: { b: L1 },
    remote: { a: R1, c: R1 }, actions: ['move a -> b', 'delete-remote c'],
  }),
  row('one delete, two new copies: one move, one upload', {
    directions: UP, deletes: PROPAGATE, base: { a: B(L1, R1) }, local: { b: L1, c: L1 }, remote: { a: R1 },
    actions: ['move a -> b', 'upload c'],
  }),
  row('new path already present remotely: adopted, not a move target', {
    directions: UP, deletes: PROPAGATE, base: { a: B(L1, R1) }, local: { b: L1 }, remote: { a: R1, b: R1 },
    actions: ['delete-remote a'], updates: { b: B(L1, R1) },
  }),
  row('a remote that changed is not moved: the change wins', {
    directions: BOTH, deletes: PROPAGATE, base: { a: B(L1, R1) }, local: { b: L1 }, remote: { a: R2 },
    actions: ['download a', 'upload b'],
  }),

  // --- scope (the watcher's fast path)
  row('scope: only the given path is planned', {
    directions: UP, scope: ['a'], local: { a: L1, b: L2 }, actions: ['upload a'],
  }),
  row('scope: a folder covers everything under it, not its namesakes', {
    directions: UP, scope: ['d'], local: { 'd/x': L1, 'd/y/z': L1, dx: L1, 'e/d': L1 },
    actions: ['upload d/x', 'upload d/y/z'],
  }),
  row("scope '' covers everything", { directions: UP, scope: [''], local: { a: L1, 'd/b': L1 }, actions: ['upload a', 'upload d/b'] }),
  row('scope: a deleted path in scope is planned', {
    directions: UP, deletes: PROPAGATE, scope: ['a'], base: { a: B(L1, R1), b: B(L1, R1) }, local: { b: L2 },
    remote: { a: R1, b: R1 }, actions: ['delete-remote a'],
  }),

  mixedTree,
];

const sizeOf = (content: string): number => (content === 'h2' ? 200 : 100);
const PASS = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));

function planWorld(w: World, policy: SyncPolicy, scope?: readonly string[]) {
  return plan(w.base, w.local, w.remote, policy, scope === undefined ? undefined : new Set(scope));
}

/** What the planner saw, per action, must be exactly what the snapshots hold. */
function expectationsOf(a: Action): { local?: unknown; remote?: unknown } {
  switch (a.kind) {
    case 'upload':
      return { local: a.local, remote: a.expectRemote };
    case 'download':
      return { local: a.expectLocal, remote: a.remote };
    case 'deleteRemote':
      return { remote: a.expectRemote };
    case 'deleteLocal':
      return { local: a.expectLocal };
    case 'moveRemote':
      return { local: a.local };
    case 'conflict':
      return { local: a.local, remote: a.remote };
  }
}

for (const r of rows) {
  for (const direction of r.directions) {
    for (const deletes of r.deletes) {
      const policy: SyncPolicy = { direction, deletes, canMoveRemote: r.canMoveRemote };
      test(`${r.description} [${direction}/${deletes}]`, (t) => {
        const w = worldOf(r);
        const p = planWorld(w, policy, r.scope);
        t.deepEqual(p.actions.map(describeAction), [...r.actions]);
        t.deepEqual(Object.fromEntries(p.baseUpdates), { ...r.updates });

        for (const a of p.actions) {
          const seen = expectationsOf(a);
          if ('local' in seen) t.deepEqual(seen.local, w.local.get(a.path) ?? null, `${a.kind} ${a.path}: local`);
          if ('remote' in seen) t.deepEqual(seen.remote, w.remote.get(a.path) ?? null, `${a.kind} ${a.path}: remote`);
          if (a.kind === 'moveRemote') t.deepEqual<unknown, unknown>(a.expectRemote, w.remote.get(a.from), 'move source');
          if (a.kind === 'conflict') t.like(a, { direction, trash: deletes === 'trash' });
          if (a.kind === 'deleteLocal' || a.kind === 'deleteRemote' || a.kind === 'moveRemote') {
            t.true(w.base.has(a.kind === 'moveRemote' ? a.from : a.path), 'nothing is deleted without a base');
          }
        }

        const after = simulate(w, p, PASS, sizeOf);
        const again = planWorld(after, policy, r.scope);
        t.deepEqual(again.actions.map(describeAction), [], 'planning again after the plan is applied');
        t.deepEqual(Object.fromEntries(again.baseUpdates), {}, 'no record-only updates left either');
      });
    }
  }
}

test('planning is deterministic: insertion order of the snapshots does not matter', (t) => {
  const policy: SyncPolicy = { direction: 'both', deletes: 'propagate', canMoveRemote: true };
  const w = worldOf(mixedTree);
  const reversed = <V>(m: ReadonlyMap<string, V>) => new Map([...m].reverse());
  const p1 = plan(w.base, w.local, w.remote, policy);
  const p2 = plan(reversed(w.base), reversed(w.local), reversed(w.remote), policy);
  t.deepEqual(p2, p1);
});

test('the planner never mutates its inputs', (t) => {
  const w = worldOf(mixedTree);
  const before = JSON.stringify([[...w.base], [...w.local], [...w.remote]]);
  plan(w.base, w.local, w.remote, { direction: 'both', deletes: 'trash', canMoveRemote: true });
  t.is(JSON.stringify([[...w.base], [...w.local], [...w.remote]]), before);
});
