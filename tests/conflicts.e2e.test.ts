// Conflicts through the CLI against the real S3 server (PRODUCT.md §3): both versions are kept,
// the newer keeps the name, the other becomes `<stem>.sync-conflict-<stamp>-<side><.ext>` —
// never over an existing name — on both sides in `both`, on the losing side's own side in
// push/pull. A second pass creates no new copies.

import test, { type ExecutionContext } from 'ava';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf } from './helpers/cli.js';
import { readTree } from './helpers/tmp.js';
import { createWorld, inBatches, type World, type WorldOptions } from './helpers/world.js';
import { passStamp } from '../agent/local-fs.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const COPY = (stem: string, side: 'local' | 'remote', ext = '.txt'): RegExp =>
  new RegExp(`^${stem.replace(/\./g, '\\.')}\\.sync-conflict-\\d{8}-\\d{6}-${side}(-\\d+)?${ext.replace(/\./g, '\\.')}$`);
const QUIET = 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0';

async function synced(t: ExecutionContext, files: Record<string, string>, opts: WorldOptions = {}): Promise<World> {
  const w = await createWorld(server, opts);
  t.teardown(() => w.cleanup());
  for (const [p, body] of Object.entries(files)) await writeFile(path.join(w.local, p), body);
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  return w;
}

/** Edits both sides of `p`; `newer` says whose modification time is later. */
async function editBoth(w: World, p: string, localBody: string, remoteBody: string, newer: 'local' | 'remote'): Promise<void> {
  await w.put(p, remoteBody); // no mtime metadata: its time is the upload time, now
  await writeFile(path.join(w.local, p), localBody);
  const when = newer === 'local' ? new Date(Date.now() + 3_600_000) : new Date('2020-01-01T00:00:00Z');
  await utimes(path.join(w.local, p), when, when);
}

/** Asserts local files and remote objects are the same set with the same bytes; returns them. */
async function assertConverged(t: ExecutionContext, w: World): Promise<Record<string, string>> {
  const local = await readTree(w.local);
  t.deepEqual(await w.keys(), Object.keys(local).sort());
  for (const [k, v] of Object.entries(local)) t.is((await w.get(k))?.toString(), v, k);
  return local;
}

test('both, local newer: the remote version is kept as a -remote copy on both sides; a second pass is quiet', async (t) => {
  const w = await synced(t, { 'doc.txt': 'base', 'other.txt': 'o' });
  await editBoth(w, 'doc.txt', 'local edit', 'remote edit', 'local');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const files = await assertConverged(t, w);
  t.is(files['doc.txt'], 'local edit');
  const copies = Object.keys(files).filter((f) => COPY('doc', 'remote').test(f));
  t.is(copies.length, 1);
  t.is(files[copies[0] ?? ''], 'remote edit');
  const again = await w.run();
  t.is(summaryOf(again), QUIET);
  t.deepEqual(await readTree(w.local), files, 'no new copies');
});

test('both, remote newer: the local version is kept as a -local copy on both sides', async (t) => {
  const w = await synced(t, { 'report.pdf': 'base', 'other.txt': 'o' });
  await editBoth(w, 'report.pdf', 'my local draft', 'their newer upload', 'remote');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  const files = await assertConverged(t, w);
  t.is(files['report.pdf'], 'their newer upload');
  const copies = Object.keys(files).filter((f) => COPY('report', 'local', '.pdf').test(f));
  t.deepEqual(copies.map((c) => files[c]), ['my local draft']);
  t.is(summaryOf(await w.run()), QUIET);
});

test('a conflict copy never takes a name already in use: it gets the next -N', async (t) => {
  const w = await synced(t, { 'doc.txt': 'base', 'other.txt': 'o' });
  // Every name the pass could pick for the remote version already exists on the remote, for a
  // window of stamps around the pass: the agent must step to `-2`, never copy over them.
  const start = Date.now();
  const stamps = Array.from({ length: 150 }, (_, i) => passStamp(new Date(start + (i - 5) * 1000)));
  await inBatches(stamps, 10, (s) => w.put(`doc.sync-conflict-${s}-remote.txt`, `somebody's file ${s}`));
  await editBoth(w, 'doc.txt', 'local edit', 'remote edit', 'local');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.true(Date.now() < start + 140_000, 'the pass ran inside the prepared window');
  const files = await assertConverged(t, w);
  for (const s of stamps) t.is(files[`doc.sync-conflict-${s}-remote.txt`], `somebody's file ${s}`);
  const fresh = Object.keys(files).filter((f) => /^doc\.sync-conflict-\d{8}-\d{6}-remote-2\.txt$/.test(f));
  t.deepEqual(fresh.map((f) => files[f]), ['remote edit']);
  t.is(files['doc.txt'], 'local edit');
  t.is(summaryOf(await w.run()), QUIET);
});

test('a repeated conflict gets a fresh name and every losing version is kept', async (t) => {
  const w = await synced(t, { 'plan.md': 'base', 'other.txt': 'o' });
  await editBoth(w, 'plan.md', 'local 1', 'remote 1', 'local');
  t.is((await w.run()).code, 0);
  await editBoth(w, 'plan.md', 'local 2', 'remote 2', 'local');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const files = await assertConverged(t, w);
  t.is(files['plan.md'], 'local 2');
  const copies = Object.keys(files).filter((f) => COPY('plan', 'remote', '.md').test(f));
  t.is(copies.length, 2);
  t.deepEqual(copies.map((c) => files[c]).sort(), ['remote 1', 'remote 2']);
  t.is(summaryOf(await w.run()), QUIET);
});

test('push: local wins, the remote version is kept as a copy on the remote only', async (t) => {
  const w = await synced(t, { 'cfg.ini': 'base', 'other.txt': 'o' }, { pair: { direction: 'push' } });
  // Push keeps the local version even when the remote one is newer.
  await editBoth(w, 'cfg.ini', 'local wins', 'remote loses', 'remote');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await readTree(w.local), { 'cfg.ini': 'local wins', 'other.txt': 'o' }, 'no copy on the local side');
  t.is((await w.get('cfg.ini'))?.toString(), 'local wins');
  const copies = (await w.keys()).filter((k) => COPY('cfg', 'remote', '.ini').test(k));
  t.is(copies.length, 1);
  t.is((await w.get(copies[0] ?? ''))?.toString(), 'remote loses');
  const again = await w.run();
  t.is(summaryOf(again), QUIET);
  t.is((await w.keys()).length, 3);
});

test('pull: remote wins, the local version is kept as a copy locally only', async (t) => {
  const w = await createWorld(server, { pair: { direction: 'pull' } });
  t.teardown(() => w.cleanup());
  await w.put('cfg.ini', 'base');
  await w.put('other.txt', 'o');
  t.is((await w.run()).code, 0);
  t.deepEqual(await readTree(w.local), { 'cfg.ini': 'base', 'other.txt': 'o' });
  // Pull keeps the remote version even when the local one is newer.
  await editBoth(w, 'cfg.ini', 'local loses', 'remote wins', 'local');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  const files = await readTree(w.local);
  t.is(files['cfg.ini'], 'remote wins');
  const copies = Object.keys(files).filter((f) => COPY('cfg', 'local', '.ini').test(f));
  t.deepEqual(copies.map((c) => files[c]), ['local loses']);
  t.deepEqual(await w.keys(), ['cfg.ini', 'other.txt'], 'no copy on the remote');
  t.is(summaryOf(await w.run()), QUIET);
  t.deepEqual(await readTree(w.local), files);
});

test('first run: different content is a conflict (dotfiles get no extension), equal content is adopted', async (t) => {
  const w = await createWorld(server);
  t.teardown(() => w.cleanup());
  await w.put('.bashrc', 'remote rc');
  await w.put('same.txt', 'identical');
  await writeFile(path.join(w.local, '.bashrc'), 'local rc');
  await writeFile(path.join(w.local, 'same.txt'), 'identical');
  const past = new Date('2020-01-01T00:00:00Z');
  await utimes(path.join(w.local, '.bashrc'), past, past);
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const files = await assertConverged(t, w);
  t.is(files['.bashrc'], 'remote rc');
  const copies = Object.keys(files).filter((f) => /^\.bashrc\.sync-conflict-\d{8}-\d{6}-local$/.test(f));
  t.deepEqual(copies.map((c) => files[c]), ['local rc']);
  t.is(await readFile(path.join(w.local, 'same.txt'), 'utf8'), 'identical');
  t.is(summaryOf(await w.run()), QUIET);
});
