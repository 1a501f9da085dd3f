// New local files are read only when a decision needs their hash (the bucket has the same path,
// or they may be a rename): a first upload reads each file once, by the upload, and still ends
// with a manifest of md5s; adoption, conflicts, moves and unreadable files behave as before.
// Passes run in-process (runCycle with the real S3 provider against the real server) so that the
// report can say how many files planning read; the unreadable case runs the CLI unprivileged.

import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { createHash } from 'node:crypto';
import { chmod, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import PQueue from 'p-queue';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf, testEnv } from './helpers/cli.js';
import { writeFiles } from './helpers/tmp.js';
import { UNPRIVILEGED } from './helpers/unprivileged.js';
import { createWorld, type World, type WorldOptions } from './helpers/world.js';
import { loadConfig } from '../agent/config.js';
import { runCycle, type CycleReport } from '../agent/cycle.js';
import { createIgnore } from '../agent/ignore.js';
import { createLogger } from '../agent/log.js';
import { openPair } from '../agent/pair.js';
import { hashLocalFiles, scanLocal, withHashes } from '../agent/scanner.js';
import type { LocalFile } from '../agent/types.js';
import type { ManifestDocument } from '../state/manifest.js';

// Serial: the server's request counters are shared by every test in this file.
const test = anyTest.serial as TestFn;
let server: S3Server;
test.before(async () => {
  server = await startS3Server();
  // The S3 provider takes its keys from the default credential chain, as in production.
  Object.assign(process.env, server.env);
});
test.after.always(async () => {
  await server?.stop();
});

const md5 = (body: string | Buffer): string => createHash('md5').update(body).digest('hex');
type Done = Extract<CycleReport, { kind: 'done' }>;

async function world(t: ExecutionContext, opts: WorldOptions = {}): Promise<World> {
  const w = await createWorld(server, opts);
  t.teardown(() => w.cleanup());
  return w;
}

/** One pass as `--reconcile` runs it (a fresh runtime, as a fresh process has), with the server's counts. */
async function pass(w: World): Promise<{ report: Done; sent: number; copies: number }> {
  const config = await loadConfig(path.join(w.dir, 'agent.config.json'));
  const pair = config.pairs[0];
  if (!pair) throw new Error('the world has one pair');
  const log = createLogger({ pretty: false, level: 'silent' });
  const rt = await openPair(config, pair, { queue: new PQueue({ concurrency: config.concurrency }), log, env: testEnv(server.env), retries: 2, retryMinMs: 20 });
  await server.resetStats();
  try {
    const report = await runCycle(rt);
    if (report.kind !== 'done') throw new Error(`the pass stopped: ${JSON.stringify(report)}`);
    // Bytes PUT rather than PUTs: the provider's one-time probe of conditional writes PUTs empty bodies.
    const { bytesIn, copies } = await server.stats();
    return { report, sent: bytesIn, copies };
  } finally {
    await rt.provider.close?.();
  }
}

const manifestOf = async (w: World): Promise<ManifestDocument> => JSON.parse(await readFile(w.manifest, 'utf8')) as ManifestDocument;
const localHashes = (m: ManifestDocument): Record<string, string | undefined> => Object.fromEntries(Object.entries(m.entries).map(([p, e]) => [p, e.local?.hash]));

test('a first upload reads no file to plan: the upload gives each hash, and the manifest holds the md5s', async (t) => {
  const w = await world(t);
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) files[`dir${i % 3}/file-${i}.txt`] = `content of file ${i}\n`.repeat(i + 1);
  files['empty.txt'] = '';
  await writeFiles(w.local, files);

  const { report, sent } = await pass(w);
  t.is(report.counts.uploaded, 31);
  t.is(report.counts.failed, 0);
  t.deepEqual(report.hashed, { files: 0, bytes: 0 }, 'planning read none of the new files');
  t.is(sent, Object.values(files).reduce((n, b) => n + Buffer.byteLength(b), 0), 'each file sent once');
  for (const [p, body] of Object.entries(files)) t.is((await w.get(p))?.toString(), body, p);
  t.deepEqual(localHashes(await manifestOf(w)), Object.fromEntries(Object.entries(files).map(([p, body]) => [p, md5(body)])));

  const again = await pass(w);
  t.is(again.report.actions, 0, 'the second pass has nothing to do');
  t.is(again.report.hashed.files, 0, 'and reads nothing');
  t.is(again.sent, 0);
});

test('a new file where the bucket already holds the same bytes is adopted: no upload, no conflict copy', async (t) => {
  const w = await world(t);
  await w.put('shared/same.txt', 'the same bytes on both sides');
  await writeFiles(w.local, { 'shared/same.txt': 'the same bytes on both sides', 'only-local.txt': 'mine alone' });

  const { report, sent } = await pass(w);
  t.is(report.counts.uploaded, 1, 'only the file the bucket lacks');
  t.is(report.counts.conflicts, 0);
  t.is(report.hashed.files, 1, 'only the file the bucket also has was read to plan');
  t.is(sent, 'mine alone'.length);
  t.deepEqual(await w.keys(), ['only-local.txt', 'shared/same.txt']);
  t.deepEqual(await readdir(path.join(w.local, 'shared')), ['same.txt']);
  const m = await manifestOf(w);
  t.is(m.entries['shared/same.txt']?.local?.hash, md5('the same bytes on both sides'));
  t.is(m.entries['only-local.txt']?.local?.hash, md5('mine alone'));
});

test('an adoption over several listing pages reads each file once, while the listing goes on', async (t) => {
  const w = await world(t);
  const files: Record<string, string> = {};
  // More than one page of ListObjectsV2 (1,000 keys): files are hashed page by page.
  for (let i = 0; i < 1100; i++) files[`p${i % 7}/f${i}.txt`] = `file ${i}`;
  await writeFiles(w.local, files);
  const bodies = Object.entries(files);
  for (let i = 0; i < bodies.length; i += 50) await Promise.all(bodies.slice(i, i + 50).map(([p, b]) => w.put(p, b)));
  await writeFile(path.join(w.local, 'p3/f3.txt'), 'not what the bucket holds');

  const { report, sent } = await pass(w);
  t.is(report.hashed.files, 1100);
  t.is(report.counts.conflicts, 1, 'p3/f3.txt differs');
  t.is(report.counts.uploaded, 0);
  t.is(sent, Buffer.byteLength('not what the bucket holds'), 'only the conflict copy of the local version is sent');
  const m = await manifestOf(w);
  t.is(Object.keys(m.entries).filter((p) => !p.includes('.sync-conflict-')).length, 1100);
  t.is(m.entries['p0/f1099.txt']?.local?.hash, md5('file 1099'));
});

test('pull: a new local file the bucket also holds is read and adopted; one it lacks is neither read nor sent', async (t) => {
  const w = await world(t, { pair: { direction: 'pull' } });
  await w.put('same.txt', 'equal');
  await writeFiles(w.local, { 'same.txt': 'equal', 'local-only.txt': 'stays here' });
  const { report, sent } = await pass(w);
  t.is(report.actions, 0);
  t.is(report.hashed.files, 1);
  t.is(sent, 0);
  t.deepEqual(await w.keys(), ['same.txt']);
  t.deepEqual(Object.keys((await manifestOf(w)).entries), ['same.txt']);
});

test('a new file where the bucket holds other bytes is a conflict: both versions are kept on both sides', async (t) => {
  const w = await world(t);
  await w.put('report.txt', 'remote version');
  await writeFiles(w.local, { 'report.txt': 'local version, longer' });

  const { report } = await pass(w);
  t.is(report.counts.conflicts, 1);
  t.is(report.hashed.files, 1);
  const remote = await Promise.all((await w.keys()).map(async (k) => (await w.get(k))?.toString()));
  const local = await Promise.all((await readdir(w.local)).map((n) => readFile(path.join(w.local, n), 'utf8')));
  t.deepEqual(remote.sort(), ['local version, longer', 'remote version']);
  t.deepEqual(local.sort(), ['local version, longer', 'remote version']);
});

test('a renamed file is moved on the server, not uploaded; only same-size new files are read to find it', async (t) => {
  const w = await world(t);
  const body = 'a file that will be renamed, 48 bytes long.....\n';
  await writeFiles(w.local, { 'old/name.txt': body, 'kept.txt': 'kept' });
  t.is((await pass(w)).report.counts.uploaded, 2);

  await rename(path.join(w.local, 'old', 'name.txt'), path.join(w.local, 'new-name.txt'));
  await rm(path.join(w.local, 'old'), { recursive: true });
  // A new file of the same size is a candidate too (read, then uploaded); another size is not read.
  await writeFiles(w.local, { 'same-size.txt': body.replace('renamed', 'REnamed'), 'other-size.txt': 'short' });
  const { report, sent, copies } = await pass(w);
  t.is(report.counts.moved, 1);
  t.is(report.counts.uploaded, 2);
  t.is(report.counts.deleted, 0);
  t.is(report.hashed.files, 2, 'the two new files of the vanished file size');
  t.is(copies, 1, 'one server-side copy');
  t.is(sent, body.length + 'short'.length, 'the two genuinely new files, not the renamed one');
  t.deepEqual(await w.keys(), ['kept.txt', 'new-name.txt', 'other-size.txt', 'same-size.txt']);
  t.is((await w.get('new-name.txt'))?.toString(), body);
  t.is((await manifestOf(w)).entries['new-name.txt']?.local?.hash, md5(body));
});

test('the scan leaves files without a base unread; hashing a subset reads those, drops vanished ones', async (t) => {
  const root = path.join(os.tmpdir(), `sync-agent-deferred-${process.pid}`);
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFiles(root, { 'a.txt': 'aaa', 'b.txt': 'bbbb', 'tracked.txt': 'tracked v2' });
  const opts = { root, hashAlgo: 'md5' as const, ignore: createIgnore({ patterns: [] }), symlinks: 'skip' as const };
  const first = await scanLocal({ ...opts, base: new Map() });
  // tracked.txt has a base with another stat: it is compared with it, so the scan reads it.
  const base = new Map([['tracked.txt', { local: { size: 1, mtimeMs: 1, ino: 1, hash: 'old' } }]]);
  const s = await scanLocal({ ...opts, base });
  t.deepEqual(first.unhashed, ['a.txt', 'b.txt', 'tracked.txt']);
  t.is(first.hashedFiles, 0);
  t.deepEqual(s.unhashed, ['a.txt', 'b.txt']);
  t.is(s.hashedFiles, 1);
  t.is(s.snapshot.get('tracked.txt')?.hash, md5('tracked v2'));
  t.is(s.snapshot.get('a.txt')?.hash, undefined);
  t.is(s.snapshot.get('a.txt')?.size, 3);

  await rm(path.join(root, 'b.txt'));
  const want = ['a.txt', 'b.txt'].map((k) => s.snapshot.get(k)).filter((f): f is LocalFile => f !== undefined);
  const h = await hashLocalFiles({ root, hashAlgo: 'md5' }, want);
  t.deepEqual([...h.files.keys()], ['a.txt']);
  t.deepEqual(h.dropped, ['b.txt'], 'a file gone since the scan is absent, not an error');
  t.deepEqual(h.skips, []);
  const merged = withHashes(s, h);
  t.deepEqual([...merged.snapshot.keys()].sort(), ['a.txt', 'tracked.txt']);
  t.is(merged.snapshot.get('a.txt')?.hash, md5('aaa'));
  t.deepEqual(merged.unhashed, []);
  t.is(merged.hashedFiles, 2);
  t.is(merged.hashedBytes, 3 + 10);
});

const unreadableTitle = 'an unreadable new file is skipped and reported, the others are uploaded';
(UNPRIVILEGED === undefined ? test.skip : test)(UNPRIVILEGED === undefined ? `${unreadableTitle} (skipped: running as root without setpriv)` : unreadableTitle, async (t) => {
  const w = await world(t);
  await writeFiles(w.local, { 'readable.txt': 'fine', 'locked.txt': 'nobody may read this' });
  await w.put('locked-too.txt', 'remote bytes');
  await writeFile(path.join(w.local, 'locked-too.txt'), 'local bytes, unreadable');
  for (const p of ['locked.txt', 'locked-too.txt']) await chmod(path.join(w.local, p), 0o000);
  t.teardown(async () => {
    for (const p of ['locked.txt', 'locked-too.txt']) await chmod(path.join(w.local, p), 0o644);
  });

  const r = await w.runUnprivileged();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  const skipped = JSON.stringify(r.logs.find((l) => l.event === 'summary')?.skipped ?? r.logs);
  t.regex(skipped, /locked\.txt: permission denied/);
  t.regex(skipped, /locked-too\.txt: permission denied/);
  t.deepEqual(await w.keys(), ['locked-too.txt', 'readable.txt'], 'nothing uploaded for the locked file, the remote one untouched');
  t.is((await w.get('locked-too.txt'))?.toString(), 'remote bytes');
});
