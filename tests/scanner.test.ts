// The local scanner over real temp folders: what it sees, what it skips (and says why), what it
// refuses to read again, and what it must never make look deleted.

import anyTest, { type TestFn } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { UNPRIVILEGED } from './helpers/unprivileged.js';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hashBuffer } from '../agent/hasher.js';
import { createIgnore } from '../agent/ignore.js';
import { hashLocalFiles, scanLocal, ScanError, withHashes, type LocalScan, type ScanOptions } from '../agent/scanner.js';
import type { BaseEntry, HashAlgo } from '../agent/types.js';

const test = anyTest as TestFn<{ dir: string }>;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const nfd = (s: string): string => s.normalize('NFD');
const md5 = (s: string): string => hashBuffer(Buffer.from(s), 'md5');

test.beforeEach(async (t) => {
  t.context.dir = await mkdtemp(path.join(os.tmpdir(), 'sync-agent-scanner-'));
});
test.afterEach.always(async (t) => {
  await rm(t.context.dir, { recursive: true, force: true });
});

/** Writes `{ 'a/b.txt': 'content' }` under `root`. */
async function write(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** A scan, then its new files hashed too (as a pass does when every one is needed by a decision). */
async function scan(root: string, extra: Partial<ScanOptions> = {}): Promise<LocalScan> {
  const o: ScanOptions = { root, base: new Map(), hashAlgo: 'md5', ignore: createIgnore({ patterns: ['*.tmp', 'node_modules/'], stateDirRel: '.sync-agent' }), symlinks: 'skip', ...extra };
  const s = await scanLocal(o);
  const files = s.unhashed.map((k) => s.snapshot.get(k)).filter((f) => f !== undefined);
  return withHashes(s, await hashLocalFiles({ root, hashAlgo: o.hashAlgo, diskNames: s.diskNames, hashConcurrency: o.hashConcurrency, signal: o.signal }, files));
}

const hashes = (s: LocalScan): Record<string, string | undefined> => Object.fromEntries([...s.snapshot].map(([k, f]) => [k, f.hash]).sort());
const skipMap = (s: LocalScan): Record<string, string> => Object.fromEntries(s.skips.map((k) => [k.path, k.reason]));

/** The manifest a previous pass would have written for this scan. */
const baseOf = (s: LocalScan): Map<string, BaseEntry> =>
  new Map([...s.snapshot].map(([k, f]) => [k, { local: { size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, hash: f.hash ?? '' } }]));

test('a tree: nested folders, unicode, ignored paths, odd names, empty folders', async (t) => {
  const root = t.context.dir;
  await write(root, {
    'top.txt': 'top',
    'a/b/c/deep.txt': 'deep',
    'docs/日本語.md': 'ja',
    [nfd('docs/café.txt')]: 'nfd on disk',
    'node_modules/pkg/index.js': 'ignored folder',
    'scratch.tmp': 'ignored file',
    'vim.txt.swp': 'built-in ignore',
    '.sync-agent/manifest.json': '{}',
    '.sync-agent-tmp-1234': 'half a download',
  });
  await mkdir(path.join(root, 'empty/also-empty'), { recursive: true });
  await writeFile(Buffer.from(`${root}/bad-\xff-name.txt`, 'latin1'), 'invalid utf-8 name');
  await writeFile(path.join(root, 'tab\there.txt'), 'control character');
  execFileSync('mkfifo', [path.join(root, 'pipe')]);
  let progress = 0;

  const s = await scan(root, { onProgress: (n) => (progress = n) });
  t.true(s.rootExists);
  t.deepEqual(hashes(s), {
    'a/b/c/deep.txt': md5('deep'),
    'docs/café.txt': md5('nfd on disk'),
    'docs/日本語.md': md5('ja'),
    'top.txt': md5('top'),
  });
  t.deepEqual([...s.diskNames], [['docs/café.txt', nfd('docs/café.txt')]], 'the real on-disk name is kept for the executor');
  const top = s.snapshot.get('top.txt');
  t.is(top?.size, 3);
  t.is(top?.path, 'top.txt');
  t.deepEqual(skipMap(s), {
    'bad-\ufffd-name.txt': 'name is not valid UTF-8 (bytes 62 61 64 2d ff 2d 6e 61 6d 65 2e 74 78 74); rename it',
    'pipe': 'not a regular file (a FIFO)',
    'tab\there.txt': 'local name holds a control character (U+0000-U+001F or U+007F); rename it',
  });
  t.deepEqual(s.blind, []);
  t.is(s.hashedFiles, 4);
  t.is(s.hashedBytes, 3 + 4 + 2 + 11);
  t.is(progress, 4);
});

test('a stat that matches the base reuses its hash without reading; a touched file is hashed again', async (t) => {
  const root = t.context.dir;
  await write(root, { 'same.txt': 'same', 'touched.txt': 'touched', 'dir/other.txt': 'other' });
  const first = await scan(root);
  t.is(first.hashedFiles, 3);

  // A fake hash in the base proves the second scan did not read the file: it returns it unchanged.
  const base = baseOf(first);
  for (const [k, e] of base) if (e.local) base.set(k, { local: { ...e.local, hash: `fake-${k}` } });
  const second = await scan(root, { base });
  t.is(second.hashedFiles, 0);
  t.is(second.hashedBytes, 0);
  t.deepEqual(hashes(second), { 'dir/other.txt': 'fake-dir/other.txt', 'same.txt': 'fake-same.txt', 'touched.txt': 'fake-touched.txt' });

  await utimes(path.join(root, 'touched.txt'), new Date('2020-01-01'), new Date('2020-01-01'));
  const third = await scan(root, { base });
  t.is(third.hashedFiles, 1);
  t.is(third.hashedBytes, 7);
  t.deepEqual(hashes(third), { 'dir/other.txt': 'fake-dir/other.txt', 'same.txt': 'fake-same.txt', 'touched.txt': md5('touched') });
  t.is(third.snapshot.get('touched.txt')?.mtimeMs, new Date('2020-01-01').getTime());

  // Same size and mtime but another inode (the file was replaced): a suspect too.
  const same = base.get('same.txt')?.local;
  if (!same) return t.fail('same.txt is in the base');
  base.set('same.txt', { local: { ...same, ino: same.ino + 1 } });
  const fourth = await scan(root, { base });
  t.is(fourth.hashedFiles, 2);
  t.is(fourth.snapshot.get('same.txt')?.hash, md5('same'));
});

test('qetag scans hash like Qiniu', async (t) => {
  const root = t.context.dir;
  await write(root, { 'q.bin': 'qiniu' });
  const s = await scan(root, { hashAlgo: 'qetag' as HashAlgo });
  t.is(s.snapshot.get('q.bin')?.hash, hashBuffer(Buffer.from('qiniu'), 'qetag'));
});

async function linkTree(root: string, outside: string): Promise<void> {
  await write(root, { 'real/file.txt': 'inside', 'real/sub/deeper.txt': 'deeper', 'plain.txt': 'plain' });
  await write(outside, { 'secret.txt': 'outside the root' });
  await symlink('real/file.txt', path.join(root, 'link-file'));
  await symlink('real', path.join(root, 'link-dir'));
  await symlink(outside, path.join(root, 'link-out'));
  await symlink(path.join(outside, 'secret.txt'), path.join(root, 'link-out-file'));
  await symlink('..', path.join(root, 'real', 'loop'));
  await symlink('nowhere', path.join(root, 'broken'));
  await symlink('.sync-agent', path.join(root, 'link-state'));
  await write(root, { '.sync-agent/manifest.json': '{}' });
}

test('symlinks: skip leaves every link out and says so', async (t) => {
  const root = t.context.dir;
  const outside = await mkdtemp(path.join(os.tmpdir(), 'sync-agent-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await linkTree(root, outside);
  const s = await scan(root, { symlinks: 'skip' });
  t.deepEqual(Object.keys(hashes(s)), ['plain.txt', 'real/file.txt', 'real/sub/deeper.txt']);
  const skipped = skipMap(s);
  for (const l of ['link-file', 'link-dir', 'link-out', 'link-out-file', 'real/loop', 'broken', 'link-state']) {
    t.is(skipped[l], 'symlink (symlinks: skip)', l);
  }
});

test('symlinks: follow stays inside the root and cuts loops', async (t) => {
  const root = t.context.dir;
  const outside = await mkdtemp(path.join(os.tmpdir(), 'sync-agent-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await linkTree(root, outside);
  const s = await scan(root, { symlinks: 'follow' });
  t.deepEqual(hashes(s), {
    'link-dir/file.txt': md5('inside'),
    'link-dir/sub/deeper.txt': md5('deeper'),
    'link-file': md5('inside'),
    'plain.txt': md5('plain'),
    'real/file.txt': md5('inside'),
    'real/sub/deeper.txt': md5('deeper'),
  });
  t.deepEqual(skipMap(s), {
    'broken': 'broken symlink (target missing)',
    'link-dir/loop': 'symlink loop (points at a folder that contains it)',
    'link-out': 'symlink points outside the root',
    'link-out-file': 'symlink points outside the root',
    'real/loop': 'symlink loop (points at a folder that contains it)',
  });
  t.false(Object.keys(hashes(s)).some((k) => k.startsWith('link-state')), 'a link into the stateDir exposes nothing');
  t.deepEqual(s.blind, []);
});

test('scope: only the given paths are looked at, by their NFC keys', async (t) => {
  const root = t.context.dir;
  await write(root, { 'a.txt': 'a', 'b.txt': 'b', 'sub/x.txt': 'x', 'sub/deep/y.txt': 'y', [nfd('é/ü.txt')]: 'u', 'node_modules/m.js': 'm' });
  const s = await scan(root, { scope: new Set(['a.txt', 'sub', 'sub/deep/y.txt', 'é/ü.txt', 'gone.txt', 'gone/dir/z.txt', 'node_modules/m.js', 'a.txt/not-a-dir']) });
  t.deepEqual(hashes(s), { 'a.txt': md5('a'), 'sub/deep/y.txt': md5('y'), 'sub/x.txt': md5('x'), 'é/ü.txt': md5('u') });
  t.is(s.diskNames.get('é/ü.txt'), nfd('é/ü.txt'));
  t.deepEqual(s.skips, []);
  t.is(s.hashedFiles, 4, 'sub/deep/y.txt is hashed once although scoped twice');

  const all = await scan(root, { scope: new Set(['', 'a.txt']) });
  t.is(all.snapshot.size, 5, "'' in the scope means the whole tree");
});

test('scope: entries that could escape the root are refused; other spellings are found', async (t) => {
  const root = path.join(t.context.dir, 'root');
  await write(t.context.dir, { 'outside.txt': 'o', 'root/\u212Aelvin.txt': 'kelvin sign' });
  const s = await scan(root, { scope: new Set(['../outside.txt', 'a/../../outside.txt', '/etc/hostname', 'Kelvin.txt']) });
  t.deepEqual(hashes(s), { 'Kelvin.txt': md5('kelvin sign') });
  t.is(s.diskNames.get('Kelvin.txt'), '\u212Aelvin.txt');
  const full = await scan(root);
  t.deepEqual(hashes(full), hashes(s), 'a full pass agrees with the scoped one');
});

test('many files in many folders: every one seen once; a second pass reads none', async (t) => {
  const root = t.context.dir;
  const files: Record<string, string> = {};
  for (let d = 0; d < 20; d++) for (let f = 0; f < 60; f++) files[`d${d}/sub${f % 3}/f${f}.txt`] = `${d}-${f}`;
  await write(root, files);
  const first = await scan(root, { hashConcurrency: 2 });
  t.is(first.snapshot.size, 1200);
  t.is(first.hashedFiles, 1200);
  t.is(first.snapshot.get('d7/sub1/f43.txt')?.hash, md5('7-43'));
  let progress = 0;
  const second = await scan(root, { base: baseOf(first), onProgress: (n) => (progress = n) });
  t.is(second.snapshot.size, 1200);
  t.is(second.hashedFiles, 0);
  t.is(progress, 1200);
  t.deepEqual(hashes(second), hashes(first));
});

test('two local names that differ only in normalization are both skipped and blind', async (t) => {
  const root = t.context.dir;
  await write(root, { 'twins/é.txt': 'nfc', [nfd('twins/é.txt')]: 'nfd', 'twins/other.txt': 'o' });
  const s = await scan(root);
  t.deepEqual(Object.keys(hashes(s)), ['twins/other.txt']);
  t.regex(skipMap(s)['twins/é.txt'] ?? '', /differ only in Unicode normalization/);
  t.deepEqual(s.blind, ['twins/é.txt']);
});

test('a missing root is reported, not thrown; a root that is a file is an error', async (t) => {
  const missing = await scan(path.join(t.context.dir, 'not-there'));
  t.false(missing.rootExists);
  t.is(missing.snapshot.size, 0);
  await write(t.context.dir, { file: 'x' });
  await t.throwsAsync(scan(path.join(t.context.dir, 'file')), { instanceOf: ScanError, message: /is not a folder/ });
});

test('an aborted scan rejects', async (t) => {
  await write(t.context.dir, { 'a.txt': 'a' });
  const ac = new AbortController();
  ac.abort(new Error('stop now'));
  await t.throwsAsync(scan(t.context.dir, { signal: ac.signal }), { message: 'stop now' });
});

// Permissions do not bind root, so this part runs in a child process without the capabilities that bypass them.
const asNobody = UNPRIVILEGED;
const unreadableTitle = 'an unreadable folder or file is blind and reported, never absent';
(asNobody === undefined ? test.skip : test)(asNobody === undefined ? `${unreadableTitle} (skipped: running as root without setpriv)` : unreadableTitle, async (t) => {
  const child = `
    import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
    import os from 'node:os';
    import path from 'node:path';
    const { scanLocal } = await import(${JSON.stringify(new URL('../agent/scanner.ts', import.meta.url).href)});
    const { createIgnore } = await import(${JSON.stringify(new URL('../agent/ignore.ts', import.meta.url).href)});
    const root = await mkdtemp(path.join(os.tmpdir(), 'sync-agent-nobody-'));
    for (const [rel, body] of [['ok.txt', 'ok'], ['locked/inner.txt', 'x'], ['secret.txt', 's'], ['half/seen.txt', 'h']]) {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await writeFile(path.join(root, rel), body);
    }
    await chmod(path.join(root, 'locked'), 0o000);
    await chmod(path.join(root, 'secret.txt'), 0o000);
    await chmod(path.join(root, 'half'), 0o444);
    try {
      const s = await scanLocal({ root, base: new Map(), hashAlgo: 'md5', ignore: createIgnore({ patterns: [] }), symlinks: 'skip' });
      console.log(JSON.stringify({ uid: process.getuid(), files: [...s.snapshot.keys()].sort(), blind: s.blind, skips: s.skips }));
    } finally {
      await chmod(path.join(root, 'locked'), 0o755);
      await chmod(path.join(root, 'half'), 0o755);
      await rm(root, { recursive: true, force: true });
    }`;
  const cmd = [...(asNobody ?? []), process.execPath, '--import', 'tsx', '--input-type=module', '-e', child];
  const { stdout } = await promisify(execFile)(cmd[0]!, cmd.slice(1), { cwd: REPO });
  const out = JSON.parse(stdout) as { uid: number; files: string[]; blind: string[]; skips: { path: string; reason: string }[] };
  t.deepEqual(out.files, ['ok.txt']);
  t.deepEqual(out.blind, ['half/seen.txt', 'locked', 'secret.txt']);
  t.deepEqual(out.skips.map((s) => `${s.path}: ${s.reason}`), ['half/seen.txt: permission denied', 'locked: permission denied', 'secret.txt: permission denied']);
});
