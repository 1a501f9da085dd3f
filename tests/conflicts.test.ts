// Conflict naming and winners (PRODUCT.md §3): tables of what a user sees in their folder.

import test from 'ava';
import fc from 'fast-check';
import { conflictName, conflictStamp, conflictWinner, isConflictCopy, splitExtension } from '../agent/conflicts.js';
import type { LocalFile, RemoteObject } from '../agent/types.js';

const PASS = new Date(Date.UTC(2024, 2, 9, 14, 5, 7)); // 2024-03-09 14:05:07 UTC
const free = (): boolean => false;

const names: { description: string; path: string; side: 'local' | 'remote'; want: string }[] = [
  { description: 'plain file', path: 'report.docx', side: 'local', want: 'report.sync-conflict-20240309-140507-local.docx' },
  { description: 'remote side', path: 'report.docx', side: 'remote', want: 'report.sync-conflict-20240309-140507-remote.docx' },
  { description: 'in a folder', path: 'a/b/notes.md', side: 'local', want: 'a/b/notes.sync-conflict-20240309-140507-local.md' },
  { description: 'no extension', path: 'Makefile', side: 'local', want: 'Makefile.sync-conflict-20240309-140507-local' },
  { description: 'dotfile has no extension', path: '.bashrc', side: 'remote', want: '.bashrc.sync-conflict-20240309-140507-remote' },
  { description: 'dotfile in a folder', path: 'home/.profile', side: 'local', want: 'home/.profile.sync-conflict-20240309-140507-local' },
  { description: 'dotfile with an extension', path: '.config.json', side: 'local', want: '.config.sync-conflict-20240309-140507-local.json' },
  { description: 'only the last extension', path: 'archive.tar.gz', side: 'local', want: 'archive.tar.sync-conflict-20240309-140507-local.gz' },
  { description: 'trailing dot is not an extension', path: 'odd.', side: 'local', want: 'odd..sync-conflict-20240309-140507-local' },
  { description: 'dots in the folder name are ignored', path: 'v1.2/readme', side: 'local', want: 'v1.2/readme.sync-conflict-20240309-140507-local' },
  { description: 'unicode name', path: 'données/été.txt', side: 'remote', want: 'données/été.sync-conflict-20240309-140507-remote.txt' },
];

for (const n of names) {
  test(`conflictName: ${n.description}`, (t) => {
    const got = conflictName(n.path, PASS, n.side, free);
    t.is(got, n.want);
    t.true(isConflictCopy(got));
  });
}

test('conflictName: taken names get -2, -3… before the extension', (t) => {
  const taken = new Set([
    'd/photo.sync-conflict-20240309-140507-local.jpg',
    'd/photo.sync-conflict-20240309-140507-local-2.jpg',
  ]);
  t.is(conflictName('d/photo.jpg', PASS, 'local', (p) => taken.has(p)), 'd/photo.sync-conflict-20240309-140507-local-3.jpg');
  const dot = new Set(['.bashrc.sync-conflict-20240309-140507-local']);
  t.is(conflictName('.bashrc', PASS, 'local', (p) => dot.has(p)), '.bashrc.sync-conflict-20240309-140507-local-2');
});

test('conflictName never returns a taken name (any taken set)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 30 }), fc.constantFrom('a.txt', '.env', 'x/y.tar.gz', 'plain'), (k, path) => {
      const taken = new Set<string>();
      for (let i = 0; i < k; i++) taken.add(conflictName(path, PASS, 'remote', (p) => taken.has(p)));
      const got = conflictName(path, PASS, 'remote', (p) => taken.has(p));
      return !taken.has(got) && isConflictCopy(got) && got.startsWith(path.slice(0, path.lastIndexOf('/') + 1));
    }),
  );
  t.pass();
});

test('conflictName gives up with an error when every name is taken', (t) => {
  t.throws(() => conflictName('a.txt', PASS, 'local', () => true), { message: /no free conflict name for a\.txt/ });
});

test('conflictStamp is UTC, zero-padded', (t) => {
  t.is(conflictStamp(new Date(Date.UTC(2001, 0, 2, 3, 4, 5))), '20010102-030405');
  t.is(conflictStamp(new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999))), '19991231-235959');
  t.throws(() => conflictStamp(new Date(Number.NaN)), { instanceOf: RangeError });
});

test('splitExtension keeps leading dots in the stem', (t) => {
  t.deepEqual(splitExtension('a.b.c'), { stem: 'a.b', ext: '.c' });
  t.deepEqual(splitExtension('..hidden'), { stem: '..hidden', ext: '' });
  t.deepEqual(splitExtension('..hidden.txt'), { stem: '..hidden', ext: '.txt' });
  t.deepEqual(splitExtension('...'), { stem: '...', ext: '' });
});

const copies: [string, boolean][] = [
  ['a.sync-conflict-20240309-140507-local.txt', true],
  ['d/a.sync-conflict-20240309-140507-remote', true],
  ['.bashrc.sync-conflict-20240309-140507-remote-12', true],
  ['a.tar.sync-conflict-20240309-140507-local-2.gz', true],
  ['a.txt', false],
  ['a.sync-conflict-2024-local.txt', false],
  ['a.sync-conflict-20240309-140507-device.txt', false],
  ['a.sync-conflict-20240309-140507-local.txt/inside', false],
];
for (const [path, want] of copies) {
  test(`isConflictCopy(${JSON.stringify(path)}) is ${want}`, (t) => t.is(isConflictCopy(path), want));
}

const L = (mtimeMs: number): LocalFile => ({ path: 'f', size: 1, mtimeMs, ino: 1, hash: 'x' });
const R = (meta: { mtimeMs?: number; uploadedMs?: number }): RemoteObject => ({ path: 'f', size: 1, token: 't', ...meta });

const winners: { description: string; local: LocalFile; remote: RemoteObject; want: 'local' | 'remote' }[] = [
  { description: 'remote mtime newer: remote keeps the name', local: L(1_000), remote: R({ mtimeMs: 2_000 }), want: 'remote' },
  { description: 'local mtime newer: local keeps the name', local: L(3_000), remote: R({ mtimeMs: 2_000 }), want: 'local' },
  { description: 'a tie goes to local', local: L(2_000), remote: R({ mtimeMs: 2_000 }), want: 'local' },
  { description: 'no metadata mtime: upload time counts', local: L(1_000), remote: R({ uploadedMs: 5_000 }), want: 'remote' },
  { description: 'metadata mtime beats a later upload time', local: L(3_000), remote: R({ mtimeMs: 2_000, uploadedMs: 9_000 }), want: 'local' },
  { description: 'no remote time at all: local', local: L(0), remote: R({}), want: 'local' },
];
for (const w of winners) {
  test(`conflictWinner: ${w.description}`, (t) => t.is(conflictWinner(w.local, w.remote), w.want));
}
