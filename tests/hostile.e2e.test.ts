// Hostile input through the CLI against the real S3 server (PRODUCT.md §3): remote keys that
// cannot be safe local paths, ambiguous keys (file-vs-folder, NFC/NFD twins), local names that
// are not valid UTF-8 or hold control characters, and unreadable files and folders. Each is
// skipped and reported (summary `skipped`, `sync-agent status`), and nothing is deleted for it.

import test, { type ExecutionContext } from 'ava';
import { chmod, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf, type CliResult } from './helpers/cli.js';
import { readTree, writeFiles } from './helpers/tmp.js';
import { createWorld, skippedOf, type World } from './helpers/world.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

async function world(t: ExecutionContext): Promise<World> {
  const w = await createWorld(server);
  t.teardown(() => w.cleanup());
  return w;
}

/** Asserts `p` is reported skipped in the summary and in `status --json`, with a reason matching `why`. */
async function assertReported(t: ExecutionContext, w: World, r: CliResult, p: string, why: RegExp): Promise<void> {
  const line = skippedOf(r).find((s) => s.startsWith(`main: ${p}: `));
  t.truthy(line, `${JSON.stringify(p)} in the summary's skipped list`);
  t.regex(line ?? '', why);
  const skips = (await w.status())[0]?.skips ?? [];
  t.true(
    skips.some((s) => s.path === p && why.test(s.reason)),
    `${JSON.stringify(p)} in status`,
  );
}

const HOSTILE_KEYS: readonly [string, RegExp][] = [
  ['../escape.txt', /"\.\." segment/],
  ['a/../../x.txt', /"\.\." segment/],
  ['./dot.txt', /"\." segment/],
  ['a/./b.txt', /"\." segment/],
  ['a//b.txt', /empty path segment/],
  ['/abs.txt', /starts with "\/"/],
  ['holds-data/', /ends with "\/" but holds data/],
  ['back\\slash.txt', /backslash/],
  ['ctl\u0001char.txt', /control character/],
  ['new\nline.txt', /control character/],
  ['del\u007f.txt', /control character/],
  [`${'n'.repeat(1000)}.txt`, /1004 bytes; file names are limited to 255/],
];

test('unsafe remote keys are skipped and reported, never written anywhere, and stay on the remote', async (t) => {
  const w = await world(t);
  for (const [k] of HOSTILE_KEYS) await w.put(k, `hostile ${k}`);
  await w.put('fine/ok.txt', 'fine');
  await w.put('folder-marker/', ''); // a zero-byte marker is a folder, not a file: silently fine
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await readTree(w.local), { 'fine/ok.txt': 'fine' });
  t.deepEqual((await readdir(w.dir)).sort(), ['.state', 'agent.config.json', 'local'], 'nothing written beside the root');
  for (const [k, why] of HOSTILE_KEYS) await assertReported(t, w, r, k, why);
  t.false(skippedOf(r).some((s) => s.includes('folder-marker')));
  const table = await w.run('status');
  t.regex(table.stdout, /skipped\s+\.\.\/escape\.txt: unsafe remote key/);
  t.regex(table.stdout, /ctl\\x01char\.txt/, 'control characters are escaped in the table');

  const again = await w.run();
  t.is(again.code, 0, again.stderr);
  t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  const keys = await w.keys();
  for (const [k] of HOSTILE_KEYS) t.true(keys.includes(k), `${JSON.stringify(k)} is still on the remote`);
});

test('a file-vs-folder clash (x and x/y): both skipped, and the synced x is not deleted on either side', async (t) => {
  const w = await world(t);
  await writeFiles(w.local, { x: 'x was synced', 'other.txt': 'o' });
  t.is((await w.run()).code, 0);
  await w.put('x/y', 'someone made x a folder too');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await assertReported(t, w, r, 'x', /file-vs-folder clash/);
  await assertReported(t, w, r, 'x/y', /file-vs-folder clash/);
  t.is(await readFile(path.join(w.local, 'x'), 'utf8'), 'x was synced');
  t.deepEqual(await w.keys(), ['other.txt', 'x', 'x/y']);
  // A local change to x is not uploaded over the ambiguity either.
  await writeFile(path.join(w.local, 'x'), 'changed while ambiguous');
  const again = await w.run();
  t.is(again.code, 0, again.stderr);
  t.is((await w.get('x'))?.toString(), 'x was synced');
});

test('NFC and NFD twins on the remote: both skipped and reported; the synced one is kept', async (t) => {
  const w = await world(t);
  const nfc = 'caf\u00e9.txt';
  const nfd = 'cafe\u0301.txt';
  await writeFiles(w.local, { [nfc]: 'synced as NFC', 'other.txt': 'o' });
  t.is((await w.run()).code, 0);
  await w.put(nfd, 'the NFD twin');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await assertReported(t, w, r, nfc, /differ only in Unicode normalization/);
  await assertReported(t, w, r, nfd, /differ only in Unicode normalization/);
  t.deepEqual(await readTree(w.local), { [nfc]: 'synced as NFC', 'other.txt': 'o' });
  t.deepEqual((await w.keys()).sort(), [nfd, nfc, 'other.txt'].sort());
});

test('an NFD remote key alone syncs to its NFC name and back without a twin', async (t) => {
  const w = await world(t);
  const nfd = 'nai\u0308ve.txt';
  await w.put(nfd, 'decomposed');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await readTree(w.local), { [nfd.normalize('NFC')]: 'decomposed' });
  await writeFile(path.join(w.local, nfd.normalize('NFC')), 'edited locally');
  const up = await w.run();
  t.is(summaryOf(up), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await w.keys(), [nfd], 'written back to the raw key, no second object');
  t.is((await w.get(nfd))?.toString(), 'edited locally');
});

test('case twins are different names on Linux: both are synced both ways', async (t) => {
  const w = await world(t);
  await w.put('Readme.md', 'remote upper');
  await w.put('README.md', 'remote all caps');
  await writeFiles(w.local, { 'a.TXT': 'local upper', 'a.txt': 'local lower' });
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 2, downloaded 2, deleted 0, conflicts 0, failed 0');
  const expected = { 'README.md': 'remote all caps', 'Readme.md': 'remote upper', 'a.TXT': 'local upper', 'a.txt': 'local lower' };
  t.deepEqual(await readTree(w.local), expected);
  for (const [k, v] of Object.entries(expected)) t.is((await w.get(k))?.toString(), v);
  t.deepEqual(skippedOf(r), []);
});

test('local names that are not valid UTF-8 or hold control characters are skipped and reported', async (t) => {
  const w = await world(t);
  await writeFiles(w.local, { 'good.txt': 'good', 'ctl\u0002name.txt': 'control', 'back\\slash.txt': 'backslash' });
  const latin1 = Buffer.concat([Buffer.from(`${w.local}/`), Buffer.from('caf\xe9.txt', 'latin1')]);
  await writeFile(latin1, 'latin-1 name');
  await mkdir(Buffer.concat([Buffer.from(`${w.local}/`), Buffer.from([0x64, 0x69, 0x72, 0xff])]));
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await w.keys(), ['good.txt']);
  t.true(skippedOf(r).some((s) => /not valid UTF-8 \(bytes 63 61 66 e9 2e 74 78 74\)/.test(s)), JSON.stringify(skippedOf(r)));
  t.true(skippedOf(r).some((s) => /not valid UTF-8 \(bytes 64 69 72 ff\)/.test(s)));
  await assertReported(t, w, r, 'ctl\u0002name.txt', /control character/);
  await assertReported(t, w, r, 'back\\slash.txt', /backslash/);
  t.is((await readdir(w.local)).length, 5, 'the agent renamed or removed nothing');
});

test('unreadable files and folders (agent bound by file permissions): skipped and reported, never deleted remotely', async (t) => {
  const w = await world(t);
  await writeFiles(w.local, { 'open.txt': 'open', 'secret/s1.txt': 's1', 'secret/s2.txt': 's2', 'locked.txt': 'locked v1', 'more.txt': 'm' });
  const first = await w.runUnprivileged();
  t.is(first.code, 0, first.stderr);
  t.is(summaryOf(first), 'uploaded 5, downloaded 0, deleted 0, conflicts 0, failed 0');

  // The folder becomes unreadable, a synced file is changed and then locked, a new file is locked.
  await writeFile(path.join(w.local, 'locked.txt'), 'locked v2, unreadable');
  await writeFile(path.join(w.local, 'new-locked.txt'), 'never readable');
  for (const p of ['secret', 'locked.txt', 'new-locked.txt']) await chmod(path.join(w.local, p), 0o000);
  await w.put('secret/s1.txt', 's1 changed remotely'); // must not be written into the unreadable folder
  const r = await w.runUnprivileged();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await assertReported(t, w, r, 'secret', /permission denied/);
  await assertReported(t, w, r, 'locked.txt', /permission denied/);
  await assertReported(t, w, r, 'new-locked.txt', /permission denied/);
  t.deepEqual(await w.keys(), ['locked.txt', 'more.txt', 'open.txt', 'secret/s1.txt', 'secret/s2.txt'], 'no remote delete');
  t.is((await w.get('locked.txt'))?.toString(), 'locked v1');
  t.is((await w.get('secret/s1.txt'))?.toString(), 's1 changed remotely');

  // Readable again: the pending changes flow, still without a delete.
  for (const p of ['secret', 'locked.txt', 'new-locked.txt']) await chmod(path.join(w.local, p), 0o755);
  const healed = await w.runUnprivileged();
  t.is(healed.code, 0, healed.stderr);
  t.is(summaryOf(healed), 'uploaded 2, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.is(await readFile(path.join(w.local, 'secret/s1.txt'), 'utf8'), 's1 changed remotely');
  t.is((await w.get('locked.txt'))?.toString(), 'locked v2, unreadable');
});

test("remote keys aimed at the agent's own files (stateDir inside the root, temp names, the trash) are left alone", async (t) => {
  const w = await createWorld(server, { config: { stateDir: './local/.state' } });
  t.teardown(() => w.cleanup());
  await writeFiles(w.local, { 'mine.txt': 'mine' });
  t.is((await w.run()).code, 0);
  const manifest = await readFile(w.manifest);
  const aimed = ['.state/main.manifest.json', '.state/main.lock', '.state/trash/main/20200101-000000/evil.txt', '.sync-agent-tmp-abc123', 'sub/.sync-agent-tmp-x', '.sync-agent-trash/20200101-000000/evil.txt'];
  for (const k of aimed) await w.put(k, 'planted');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await readFile(w.manifest), manifest, 'the manifest was not overwritten');
  t.deepEqual(Object.keys(await readTree(w.local, { ignore: (p) => p === '.state' })), ['mine.txt']);
  for (const k of aimed) t.is((await w.get(k))?.toString(), 'planted', `${k} left alone on the remote`);
});

test('a download never writes through a local symlink (to a folder or a file outside the root)', async (t) => {
  const w = await world(t);
  const outside = path.join(w.dir, 'outside');
  await mkdir(outside);
  await writeFile(path.join(outside, 'target.txt'), 'outside, untouched');
  await writeFiles(w.local, { 'real.txt': 'r' });
  await symlink(outside, path.join(w.local, 'linkdir'));
  await symlink(path.join(outside, 'target.txt'), path.join(w.local, 'link.txt'));
  await w.put('linkdir/planted.txt', 'through the folder link');
  await w.put('link.txt', 'through the file link');
  const r = await w.run();
  t.deepEqual(await readTree(outside), { 'target.txt': 'outside, untouched' }, 'nothing written outside the root');
  t.is((await lstat(path.join(w.local, 'link.txt'))).isSymbolicLink(), true, 'the link itself was not replaced');
  // The folder link cannot be written through: that download fails and is listed (exit 1).
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /linkdir\/planted\.txt: linkdir is a symlink: refusing to write through it/);
  await assertReported(t, w, r, 'linkdir', /symlink/);
  t.deepEqual((await w.keys()).sort(), ['link.txt', 'linkdir/planted.txt', 'real.txt']);
});
