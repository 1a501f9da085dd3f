import test from 'ava';
import { applyResults, checkedManifest, emptyManifest, fromDocument, validateManifest, withUpdates, type Manifest, type ManifestDocument } from '../state/manifest.js';
import { scopeBase } from '../agent/scoped-base.js';
import { inScope } from '../agent/paths.js';
import type { ActionResult, BaseEntry } from '../agent/types.js';

const entry = (i: number, side: 'both' | 'local' | 'remote' = 'both'): BaseEntry => ({
  ...(side !== 'remote' ? { local: { size: i, mtimeMs: i, ino: i, hash: `h${i}` } } : {}),
  ...(side !== 'local' ? { remote: { token: `t${i}`, size: i } } : {}),
});

const manifest = (entries: [string, BaseEntry][]): Manifest => ({ ...emptyManifest('docs', '/data', 's3://b/', 'md5'), entries: new Map(entries) });

test('withUpdates leaves the manifest it was given as it was', (t) => {
  const m = manifest([['a.txt', entry(1)], ['b.txt', entry(2)]]);
  const next = withUpdates(m, new Map([['a.txt', null], ['c.txt', entry(3)], ['b.txt', entry(4)]]));
  t.deepEqual([...m.entries], [['a.txt', entry(1)], ['b.txt', entry(2)]]);
  t.deepEqual([...next.entries], [['b.txt', entry(4)], ['c.txt', entry(3)]]);
});

test('withUpdates hands back the same manifest when no update changes anything (the store then writes nothing)', (t) => {
  const m = manifest([['a.txt', entry(1)]]);
  t.is(withUpdates(m, new Map()), m);
  // Removing what is not there, and recording an equal entry again, are no change.
  t.is(withUpdates(m, new Map([['gone.txt', null], ['a.txt', entry(1)], ['empty.txt', {}]])), m);
  t.not(withUpdates(m, new Map([['a.txt', entry(2)]])), m);
});

test('an entry with neither side is removed', (t) => {
  const m = manifest([['a.txt', entry(1)]]);
  t.deepEqual([...withUpdates(m, new Map([['a.txt', {}]])).entries], []);
});

test('applyResults commits what happened: failed and stale actions leave their entries alone', (t) => {
  const m = manifest([['a.txt', entry(1)], ['b.txt', entry(2)]]);
  const action = { kind: 'deleteRemote', path: 'a.txt', expectRemote: { path: 'a.txt', size: 1, token: 't1' }, trash: false } as const;
  const results: ActionResult[] = [
    { status: 'failed', action, error: 'boom' },
    { status: 'stale', action: { ...action, path: 'b.txt' }, reason: 'moved' },
    { status: 'done', action: { ...action, path: 'c.txt' }, updates: new Map([['c.txt', entry(3)]]), bytes: 0 },
  ];
  const next = applyResults(m, new Map([['b.txt', entry(5)]]), results);
  t.deepEqual(Object.fromEntries(next.entries), { 'a.txt': entry(1), 'b.txt': entry(5), 'c.txt': entry(3) });
});

const base = new Map<string, BaseEntry>([
  ['top.txt', entry(1)],
  ['docs/a.txt', entry(2, 'local')],
  ['docs/sub/b.txt', entry(3)],
  ['docs2/c.txt', entry(4, 'remote')],
  ['photos/d.jpg', entry(5)],
  // A remote may hold an object and a "folder" of the same name (S3 keys `x` and `x/y`).
  ['x', entry(6, 'remote')],
  ['x/y', entry(7)],
  ['ab/cd/ef/g.txt', entry(8)],
  ['ab/cx/h.txt', entry(9)],
]);

test('a scoped base holds exactly what the scope covers, a whole-tree scope is the base itself', (t) => {
  for (const scope of [['top.txt'], ['docs'], ['docs/sub', 'photos/d.jpg', 'missing/file'], ['x'], ['doc'], ['x/y', 'docs/a.txt'], ['ab/cx', 'ab/cd', 'ab/ce/f'], ['ab/cd/ef', 'ab/cd/eg'], ['ab/c']]) {
    const s = new Set(scope);
    const expected = [...base].filter(([p]) => inScope(p, s)).map(([p]) => p).sort();
    t.deepEqual([...scopeBase(base, s).base.keys()].sort(), expected, scope.join(', '));
  }
  t.is(scopeBase(base, undefined).base, base);
  t.is(scopeBase(base, new Set(['', 'docs'])).base, base);
});

test('the tracked counts cover the whole base, whatever the scope', (t) => {
  for (const scope of [undefined, new Set(['top.txt']), new Set<string>()]) {
    const { tracked, trackedRemote } = scopeBase(base, scope);
    t.deepEqual({ tracked, trackedRemote }, { tracked: 7, trackedRemote: 8 });
  }
});

test('a scoped base agrees with inScope on many generated trees and scopes', (t) => {
  // A small deterministic generator: short names, so folders and files collide often.
  let seed = 42;
  const next = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
  const name = (): string => ['a', 'b', 'ab', 'a.b'][next(4)] as string;
  const somePath = (): string => Array.from({ length: 1 + next(4) }, name).join('/');
  for (let round = 0; round < 200; round++) {
    const tree = new Map<string, BaseEntry>(Array.from({ length: 30 }, (_, i) => [somePath(), entry(i)]));
    const scope = new Set(Array.from({ length: 1 + next(5) }, somePath));
    const expected = [...tree.keys()].filter((p) => inScope(p, scope)).sort();
    t.deepEqual([...scopeBase(tree, scope).base.keys()].sort(), expected, [...scope].join(', '));
  }
});

test('checkedManifest reads a parsed document as validateManifest and fromDocument do, in one walk', (t) => {
  const entry = (hash: string): BaseEntry => ({ local: { size: 1, mtimeMs: 1, ino: 7, hash }, remote: { token: hash, size: 1 } });
  // Keys that look like array indices come first in a parsed object: the Map keeps that order.
  const text = JSON.stringify({ version: 1, pair: 'p', root: '/r', remoteId: 's3:b', hashAlgo: 'md5', entries: { b: entry('1'), '10': entry('2'), a: entry('3'), '2': entry('4') } });
  const doc = JSON.parse(text) as ManifestDocument;
  const r = checkedManifest(doc);
  t.deepEqual(validateManifest(doc), []);
  t.true(r.ok);
  t.deepEqual(r.ok && [...r.manifest.entries], [...fromDocument(doc).entries]);
  t.deepEqual(r.ok && [...r.manifest.entries.keys()], ['2', '10', 'b', 'a']);

  const cases: readonly [string, unknown, RegExp][] = [
    ['not an object', 'x', /not an object/],
    ['a wrong version', { ...doc, version: 2 }, /unknown version 2/],
    ['no entries', { ...doc, entries: undefined }, /missing entries/],
    ['a null entry', { ...doc, entries: { a: entry('1'), b: null } }, /bad entry "b"/],
    ['a number for a hash', { ...doc, entries: { a: { local: { size: 1, hash: 5 } } } }, /bad entry "a"/],
    ['a remote without a token', { ...doc, entries: { a: { remote: { size: 1 } } } }, /bad entry "a"/],
  ];
  for (const [what, bad, problem] of cases) {
    const c = checkedManifest(bad);
    t.false(c.ok, what);
    t.regex(c.ok ? '' : c.problems.join('; '), problem, what);
    t.deepEqual(c.ok ? [] : c.problems, validateManifest(bad), `${what}: the same problems as validateManifest`);
  }
});
