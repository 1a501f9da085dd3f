// Safety guards (PRODUCT.md §4) as a table: what stops a pass, what --force lets through, and
// that the message tells the user what happened and what to do.

import test from 'ava';
import { checkGuards, countDeletes, type GuardInput, type GuardName } from '../agent/safety.js';
import type { Action, LocalFile, RemoteObject } from '../agent/types.js';

const lf = (path: string): LocalFile => ({ path, size: 1, mtimeMs: 1, ino: 1, hash: 'h' });
const ro = (path: string): RemoteObject => ({ path, size: 1, token: 't', hash: 'h' });
const delRemote = (n: number, trash = false): Action[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'deleteRemote', path: `r${i}`, expectRemote: ro(`r${i}`), trash }));
const delLocal = (n: number): Action[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'deleteLocal', path: `l${i}`, expectLocal: lf(`l${i}`), trash: false }));
const moves = (n: number): Action[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'moveRemote', path: `m${i}`, from: `o${i}`, local: lf(`m${i}`), expectRemote: ro(`o${i}`) }));
const uploads = (n: number): Action[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'upload', path: `u${i}`, local: lf(`u${i}`), expectRemote: null }));

const healthy: GuardInput = {
  tracked: 10,
  trackedRemote: 10,
  localRootExists: true,
  localCount: 10,
  remoteCount: 10,
  listingComplete: true,
  actions: [],
  maxDeletePercent: 50,
  force: false,
};

const rows: { description: string; input: Partial<GuardInput>; stops?: GuardName; overridable?: boolean; says?: RegExp }[] = [
  { description: 'a healthy pass goes through', input: {} },
  { description: 'first run: nothing tracked, empty everywhere', input: { tracked: 0, trackedRemote: 0, localRootExists: false, localCount: 0, remoteCount: 0 } },
  {
    description: 'a failed listing page stops the pass',
    input: { listingComplete: false }, stops: 'listing-failed', overridable: false, says: /did not complete.*--force does not override/,
  },
  {
    description: '--force does not override a failed listing',
    input: { listingComplete: false, force: true }, stops: 'listing-failed', overridable: false,
  },
  {
    description: 'a failed listing is reported even on a first run',
    input: { listingComplete: false, tracked: 0, trackedRemote: 0 }, stops: 'listing-failed',
  },
  {
    description: 'local root missing while the manifest lists files',
    input: { localRootExists: false, localCount: 0, tracked: 1204 }, stops: 'local-root-missing', overridable: true,
    says: /\/data\/sync does not exist but the manifest tracks 1,204 files: is the disk mounted\? run with --force/,
  },
  {
    description: 'local root empty while the manifest lists files',
    input: { localCount: 0, tracked: 1204 }, stops: 'local-empty', overridable: true,
    says: /the local folder \/data\/sync is empty but the manifest tracks 1,204 files: is the disk mounted\? run with --force if this is intended/,
  },
  {
    description: 'local empty with one tracked file says "1 file"',
    input: { localCount: 0, tracked: 1 }, stops: 'local-empty', says: /tracks 1 file:/,
  },
  { description: 'local empty but nothing tracked locally: fine', input: { localCount: 0, tracked: 0 } },
  {
    description: 'remote listing empty while the manifest lists files',
    input: { remoteCount: 0 }, stops: 'remote-empty', overridable: true,
    says: /s3:\/\/bucket\/prefix lists no objects but the manifest tracks 10 files there: are the bucket, prefix and credentials right\?/,
  },
  { description: 'remote empty but nothing tracked remotely: fine', input: { remoteCount: 0, trackedRemote: 0 } },
  {
    description: 'more than half the remote files deleted',
    input: { actions: delRemote(6) }, stops: 'too-many-deletes', overridable: true,
    says: /delete 6 files in s3:\/\/bucket\/prefix, 60% of the 10 files.*maxDeletePercent is 50%.*--force/,
  },
  { description: 'exactly half deleted: allowed (more than, not at least)', input: { actions: delRemote(5) } },
  {
    description: 'more than half the local files deleted',
    input: { actions: delLocal(6) }, stops: 'too-many-deletes', says: /in the local folder \/data\/sync/,
  },
  { description: 'deletes counted per side: 4 + 4 of 10 is fine', input: { actions: [...delLocal(4), ...delRemote(4)] } },
  { description: 'trash deletes count too', input: { actions: delRemote(6, true) }, stops: 'too-many-deletes' },
  { description: 'moves do not count', input: { actions: [...moves(9), ...delRemote(1)] } },
  { description: 'uploads do not count', input: { actions: uploads(50) } },
  { description: 'one delete out of one tracked file is allowed (at least two)', input: { tracked: 1, trackedRemote: 1, localCount: 1, remoteCount: 1, actions: delRemote(1) } },
  {
    description: 'two deletes out of two tracked files stop',
    input: { tracked: 2, trackedRemote: 2, localCount: 2, remoteCount: 2, actions: delRemote(2) }, stops: 'too-many-deletes',
  },
  { description: 'maxDeletePercent 100 allows deleting everything', input: { maxDeletePercent: 100, actions: delRemote(10) } },
  {
    description: 'maxDeletePercent 0 stops any two deletes',
    input: { maxDeletePercent: 0, actions: delLocal(2) }, stops: 'too-many-deletes',
  },
  { description: '--force lets too many deletes through', input: { actions: delRemote(10), force: true } },
  { description: '--force lets an empty local folder through', input: { localCount: 0, force: true } },
  { description: '--force lets a missing local root through', input: { localRootExists: false, localCount: 0, force: true } },
  { description: '--force lets an empty remote through', input: { remoteCount: 0, force: true } },
  {
    description: 'a missing root is reported before the delete ratio',
    input: { localRootExists: false, localCount: 0, actions: delRemote(10) }, stops: 'local-root-missing',
  },
];

for (const r of rows) {
  test(`checkGuards: ${r.description}`, (t) => {
    const v = checkGuards({ ...healthy, localRoot: '/data/sync', remoteLabel: 's3://bucket/prefix', ...r.input });
    if (r.stops === undefined) {
      t.deepEqual(v, { ok: true });
      return;
    }
    if (v.ok) return t.fail(`expected guard ${r.stops}`);
    t.is(v.guard, r.stops);
    if (r.overridable !== undefined) t.is(v.overridable, r.overridable);
    if (r.says) t.regex(v.message, r.says);
  });
}

test('messages without a root or remote label still read well', (t) => {
  const v = checkGuards({ ...healthy, localCount: 0 });
  t.like(v, { ok: false, guard: 'local-empty' });
  if (!v.ok) t.regex(v.message, /^the local folder is empty but the manifest tracks 10 files/);
});

test('countDeletes counts each side, ignoring moves and transfers', (t) => {
  t.deepEqual(countDeletes([...delLocal(3), ...delRemote(2, true), ...moves(4), ...uploads(1)]), { local: 3, remote: 2 });
  t.deepEqual(countDeletes([]), { local: 0, remote: 0 });
});
