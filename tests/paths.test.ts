// Key mapping: hostile remote keys are skipped with a reason, safe ones map to NFC paths, and
// nothing ever joins outside the root.

import test from 'ava';
import path from 'node:path';
import {
  buildRemoteSnapshot,
  RemoteSnapshotBuilder,
  checkRemoteKey,
  decodeLocalName,
  inScope,
  isInside,
  keyToLocalPath,
  topmostScope,
  localNameToKey,
  UnsafePathError,
} from '../agent/paths.js';
import type { RemoteObject } from '../agent/types.js';

const obj = (p: string, size = 3): RemoteObject => ({ path: p, size, token: `t-${p}` });
const nfd = (s: string): string => s.normalize('NFD');

const hostile: readonly { key: string; reason: RegExp; description: string }[] = [
  { key: '../escape.txt', reason: /"\.\." segment/, description: 'parent segment at the start' },
  { key: 'a/../../x', reason: /"\.\." segment/, description: 'parent segment in the middle' },
  { key: '/abs.txt', reason: /starts with "\/"/, description: 'absolute key' },
  { key: 'a//b.txt', reason: /empty path segment/, description: 'empty segment' },
  { key: './x', reason: /"\." segment/, description: 'dot segment' },
  { key: 'a\\b', reason: /backslash/, description: 'backslash' },
  { key: 'x\u0000y', reason: /NUL/, description: 'NUL' },
  { key: 'x\ny', reason: /control character/, description: 'newline' },
  { key: 'x\u007fy', reason: /control character/, description: 'DEL' },
  { key: `d/${'é'.repeat(128)}`, reason: /256 bytes/, description: 'a 256-byte segment' },
  { key: 'bad\ud800.txt', reason: /not valid Unicode/, description: 'lone surrogate' },
  { key: 'dir/', reason: /holds data/, description: 'a non-empty object ending in "/"' },
];

for (const { key, reason, description } of hostile) {
  test(`refuses a remote key: ${description}`, (t) => {
    const r = checkRemoteKey(key, 5);
    t.false(r.ok);
    t.true(!r.ok && !r.marker && reason.test(r.reason), JSON.stringify(r));
  });
}

test('a 255-byte segment is fine', (t) => {
  const name = `${'é'.repeat(127)}x`;
  t.is(Buffer.byteLength(name), 255);
  t.deepEqual(checkRemoteKey(`d/${name}`, 1), { ok: true, path: `d/${name}` });
});

test('zero-byte keys ending in "/" are folder markers, not skips', (t) => {
  t.deepEqual(checkRemoteKey('dir/', 0), { ok: false, marker: true });
  t.deepEqual(checkRemoteKey('a/b/'), { ok: false, marker: true });
  t.deepEqual(checkRemoteKey('', 0), { ok: false, marker: true });
});

test('safe keys map to NFC paths', (t) => {
  t.deepEqual(checkRemoteKey('a/b c/d.txt', 1), { ok: true, path: 'a/b c/d.txt' });
  t.deepEqual(checkRemoteKey(nfd('café/naïve.txt'), 1), { ok: true, path: 'café/naïve.txt' });
  t.deepEqual(checkRemoteKey('..hidden/...', 1), { ok: true, path: '..hidden/...' });
  t.deepEqual(checkRemoteKey('日本語/ファイル.txt', 1), { ok: true, path: '日本語/ファイル.txt' });
});

test('buildRemoteSnapshot: a listing with every kind of hostile key', (t) => {
  const objects = [
    obj('ok.txt'),
    obj('docs/readme.md'),
    obj(nfd('résumé.pdf')),
    ...hostile.map((h) => obj(h.key)),
    obj('dir/', 0),
    obj('docs/', 0),
    obj('twin-é.txt'),
    obj(nfd('twin-é.txt')),
    obj('x'),
    obj('x/y'),
    obj('x/y/z'),
    obj('X/y'),
  ];
  const r = buildRemoteSnapshot(objects);
  t.deepEqual([...r.snapshot.keys()].sort(), ['X/y', 'docs/readme.md', 'ok.txt', 'résumé.pdf']);
  t.is(r.snapshot.get('résumé.pdf')?.path, 'résumé.pdf');
  t.is(r.snapshot.get('résumé.pdf')?.token, `t-${nfd('résumé.pdf')}`);
  t.deepEqual([...r.rawKeys], [['résumé.pdf', nfd('résumé.pdf')]]);

  const reasons = new Map(r.skips.map((s) => [s.path, s.reason]));
  for (const h of hostile) t.regex(reasons.get(h.key) ?? '', h.reason, h.key);
  t.regex(reasons.get('twin-é.txt') ?? '', /Unicode normalization/);
  t.regex(reasons.get(nfd('twin-é.txt')) ?? '', /Unicode normalization/);
  t.regex(reasons.get('x') ?? '', /file-vs-folder clash: "x" is a file and also a folder of 2/);
  t.regex(reasons.get('x/y') ?? '', /clash: "x" is also a file/);
  t.regex(reasons.get('x/y/z') ?? '', /clash: "x" is also a file/);
  t.false(reasons.has('docs/'), 'markers are not reported');
  t.is(r.skips.length, hostile.length + 2 + 3, 'every skip is reported once; markers never');
  t.true(r.skips.every((s) => s.side === 'remote'));
  t.deepEqual(r.blind.sort(), ['twin-é.txt', 'x']);
});

test('local names: NFC keys, invalid UTF-8 and control characters refused', (t) => {
  t.deepEqual(decodeLocalName(Buffer.from(nfd('café.txt'))), { ok: true, name: nfd('café.txt'), key: 'café.txt' });
  const invalid = decodeLocalName(Buffer.from([0x66, 0xff, 0x6f]));
  t.false(invalid.ok);
  t.true(!invalid.ok && /not valid UTF-8 \(bytes 66 ff 6f\)/.test(invalid.reason));
  const control = decodeLocalName(Buffer.from('a\tb'));
  t.true(!control.ok && /control character/.test(control.reason));
  // A byte-order mark is part of the name, not something to drop.
  t.deepEqual(decodeLocalName(Buffer.from('\ufeffbom')), { ok: true, name: '\ufeffbom', key: '\ufeffbom' });

  t.deepEqual(localNameToKey([Buffer.from(nfd('é')), Buffer.from('b.txt')]), { ok: true, key: 'é/b.txt', diskRel: `${nfd('é')}/b.txt` });
  const bad = localNameToKey([Buffer.from('dir'), Buffer.from([0xc3, 0x28])]);
  t.true(!bad.ok && bad.display.startsWith('dir/'));
});

test('keyToLocalPath stays inside the root or throws', (t) => {
  const root = path.resolve('/srv/sync');
  t.is(keyToLocalPath(root, 'a/b.txt'), path.join(root, 'a', 'b.txt'));
  t.is(keyToLocalPath(`${root}/`, 'a'), path.join(root, 'a'));
  for (const key of ['', '../x', 'a/../../x', 'a//b', '/etc/passwd', 'a/./b', 'x\u0000']) {
    t.throws(() => keyToLocalPath(root, key), { instanceOf: UnsafePathError }, JSON.stringify(key));
  }
});

test('isInside compares whole segments', (t) => {
  t.true(isInside('/a/b', '/a/b'));
  t.true(isInside('/a/b', '/a/b/c/d'));
  t.true(isInside('/a/b', '/a/b/..c'));
  t.false(isInside('/a/b', '/a/bc'));
  t.false(isInside('/a/b', '/a'));
  t.false(isInside('/a/b', '/a/b/../c'));
});

test('inScope: equal, under, everything', (t) => {
  const scope = new Set(['docs', 'a/b.txt']);
  t.true(inScope('docs', scope));
  t.true(inScope('docs/x/y.txt', scope));
  t.true(inScope('a/b.txt', scope));
  t.false(inScope('docs2/x', scope));
  t.false(inScope('a/b.txt.bak', scope));
  t.false(inScope('a', scope));
  t.true(inScope('anything', undefined));
  t.true(inScope('anything/at/all', new Set([''])));
});

test('topmostScope keeps only the outermost entries', (t) => {
  t.deepEqual(topmostScope(['a/b', 'a', 'a b', 'a b/c', 'c/d.txt', 'a/b/c']), ['a', 'a b', 'c/d.txt']);
  t.deepEqual(topmostScope(['x', '']), ['']);
  t.deepEqual(topmostScope([]), []);
});

test('a remote snapshot built a page at a time equals the one built at once, however the listing is cut', (t) => {
  const objects = [
    obj('ok.txt'),
    obj(nfd('résumé.pdf')),
    obj('../escape.txt'),
    obj('docs/', 0),
    obj('twin-é.txt'),
    obj('a/b/c.txt'),
    obj(nfd('twin-é.txt')),
    obj('x/y'),
    obj('a/b/d.txt'),
    obj('x'),
    obj('twin-é.txt'.normalize('NFKD')),
    obj('x/y/z'),
    obj('.DS_Store'),
    obj('sub/.DS_Store'),
  ];
  const ignores = (p: string): boolean => p.endsWith('.DS_Store');
  const whole = buildRemoteSnapshot(objects);
  const sorted = (r: ReturnType<typeof buildRemoteSnapshot>) => ({
    snapshot: [...r.snapshot].sort(([a], [b]) => (a < b ? -1 : 1)),
    rawKeys: [...r.rawKeys].sort(),
    skips: [...r.skips].sort((a, b) => (a.path + a.reason < b.path + b.reason ? -1 : 1)),
    blind: [...r.blind].sort(),
  });
  for (const size of [1, 2, 3, 5, objects.length]) {
    const b = new RemoteSnapshotBuilder(ignores);
    for (let i = 0; i < objects.length; i += size) b.add(objects.slice(i, i + size));
    t.deepEqual([...b.ignored].sort(), ['.DS_Store', 'sub/.DS_Store'], `pages of ${size}`);
    t.deepEqual(sorted(b.build()), sorted(whole), `pages of ${size}`);
  }
  // The clash is found whichever side comes first: the file `x`, or the keys inside it.
  t.deepEqual(whole.blind.sort(), ['twin-é.txt', 'x']);
  t.false(whole.snapshot.has('x/y/z'));
});
