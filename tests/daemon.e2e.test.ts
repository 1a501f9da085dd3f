// The daemon end to end: the real CLI in the background, real chokidar on real temp folders, the
// real S3 server. Serial: these tests share a 2-core box with real watchers and real timers, so
// they wait on conditions with generous deadlines and never on fixed sleeps.

import test from 'ava';
import { appendFile, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { waitFor } from './helpers/cli.js';
import { daemonWorld, logged, settled } from './helpers/daemon.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const same = (a: Buffer | undefined, b: Buffer | string): boolean => a !== undefined && a.equals(Buffer.isBuffer(b) ? b : Buffer.from(b));

test.serial('a new file is uploaded byte-exact, a change uploaded once more, a delete deleted remotely', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const d = await w.start();
  const file = path.join(w.local, 'notes', 'today.txt');
  const v1 = Buffer.from('first version\n'.repeat(1000));
  await mkdir(path.dirname(file));
  await writeFile(file, v1);
  await waitFor('the upload', async () => same(await w.get('notes/today.txt'), v1));

  const v2 = Buffer.concat([v1, Buffer.from('second version\n')]);
  await writeFile(file, v2);
  await waitFor('the change', async () => same(await w.get('notes/today.txt'), v2));

  const changedAt = Date.now();
  await unlink(file);
  await waitFor('the remote delete', async () => !(await w.keys()).includes('notes/today.txt'));
  const st = await settled(w, changedAt);
  t.deepEqual(logged(d, 'upload'), ['notes/today.txt', 'notes/today.txt'], 'once for the new file, once for the change');
  t.deepEqual(logged(d, 'deleteRemote'), ['notes/today.txt']);
  t.is(st.daemonPid, d.child.pid);
  t.is(st.trackedFiles, 0);
  t.is(await w.stop(d), 0);
  t.regex(d.output(), /"event":"stopped"/);
});

test.serial('an editor’s atomic save never deletes the object and never uploads the temp file', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  await writeFile(path.join(w.local, 'x'), 'version 1');
  const d = await w.start();
  t.true(same(await w.get('x'), 'version 1'), 'the first pass uploaded x');
  for (let i = 2; i <= 4; i++) {
    const savedAt = Date.now();
    await writeFile(path.join(w.local, 'x.tmp'), `version ${i}`);
    await rename(path.join(w.local, 'x.tmp'), path.join(w.local, 'x'));
    await waitFor(`save ${i}`, async () => same(await w.get('x'), `version ${i}`));
    await settled(w, savedAt);
  }
  t.deepEqual(await w.keys(), ['x']);
  t.deepEqual(logged(d, 'deleteRemote'), [], 'x was never deleted remotely');
  t.false(logged(d, 'upload').includes('x.tmp'), 'x.tmp was never uploaded');
  t.deepEqual(logged(d, 'upload'), ['x', 'x', 'x', 'x']);
  t.is(await w.stop(d), 0);
});

test.serial('1,000 files created in one burst all reach the bucket with about one PUT each', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const d = await w.start();
  await server.resetStats();
  const started = Date.now();
  await mkdir(path.join(w.local, 'burst'));
  const expected: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const name = `burst/f${String(i).padStart(4, '0')}.txt`;
    expected.push(name);
    await writeFile(path.join(w.local, name), `file ${i}\n`);
  }
  await waitFor('all 1,000 objects', async () => (await w.keys()).length === 1000, 120_000, 500);
  const ms = Date.now() - started;
  t.deepEqual(await w.keys(), expected);
  t.true(same(await w.get('burst/f0999.txt'), 'file 999\n'));
  const stats = await server.stats();
  t.log(`1,000 files: ${stats.puts} PUTs (${(stats.puts / 1000).toFixed(2)} per file), ${stats.requests} requests, ${ms} ms`);
  t.true(stats.puts <= 2 * 1000, `${stats.puts} PUTs for 1,000 files`);
  // 1,000 queued uploads each listen for the stop: not a leak, and no warning in the log.
  t.notRegex(d.output(), /MaxListenersExceededWarning/);

  t.is(await w.stop(d), 0);
});

test.serial('a file appended to for 3 seconds ends up in the bucket with its final bytes', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const d = await w.start();
  const file = path.join(w.local, 'growing.log');
  await writeFile(file, '');
  const until = Date.now() + 3000;
  let line = 0;
  while (Date.now() < until) {
    await appendFile(file, `line ${line++} ${'x'.repeat(200)}\n`);
    await new Promise((r) => setTimeout(r, 20)); // the writer's pace, not a wait on the daemon
  }
  const final = await readFile(file);
  await waitFor('the final bytes', async () => same(await w.get('growing.log'), final), 60_000);
  await waitFor('the upload logged', () => logged(d, 'upload').length > 0);
  t.log(`${line} appends, ${logged(d, 'upload').length} upload(s), ${logged(d, 'stale').length} skipped as still changing`);
  t.is(await w.stop(d), 0);
});

test.serial('an object added by another client appears locally on the next pass and does not bounce back', async (t) => {
  const w = await daemonWorld(server, { reconcileEverySec: 1 });
  t.teardown(w.cleanup);
  const d = await w.start();
  await w.put('from-elsewhere/report.csv', 'a,b\n1,2\n');
  await server.resetStats();
  const file = path.join(w.local, 'from-elsewhere', 'report.csv');
  await waitFor('the download', async () => (await readFile(file, 'utf8').catch(() => '')) === 'a,b\n1,2\n');
  const downloadedAt = Date.now();
  // Two more passes: a bounce would have shown by then.
  await waitFor('two more passes', () => d.logs().filter((l) => l.event === 'pass' && Date.parse(String(l.time)) > downloadedAt).length >= 2, 60_000);
  t.is((await server.stats()).puts, 0, 'nothing was uploaded');
  t.deepEqual(logged(d, 'upload'), []);
  t.deepEqual(logged(d, 'download'), ['from-elsewhere/report.csv']);
  t.is(await w.stop(d), 0);
});

test.serial('a folder rename moves objects server-side: almost no bytes uploaded', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const d = await w.start();
  const files = 20;
  const size = 64 * 1024;
  const createdAt = Date.now();
  await mkdir(path.join(w.local, 'album'));
  for (let i = 0; i < files; i++) await writeFile(path.join(w.local, 'album', `p${i}.jpg`), Buffer.alloc(size, i));
  await waitFor('the album uploaded', async () => (await w.keys()).length === files);
  await settled(w, createdAt);
  await server.resetStats();

  await rename(path.join(w.local, 'album'), path.join(w.local, 'album-2024'));
  const moved = Array.from({ length: files }, (_, i) => `album-2024/p${i}.jpg`).sort();
  await waitFor('the objects moved', async () => JSON.stringify(await w.keys()) === JSON.stringify(moved), 60_000);
  const stats = await server.stats();
  t.log(`rename of ${files} × ${size} bytes: ${stats.bytesIn} bytes uploaded, ${stats.copies} copies, ${stats.puts} PUTs`);
  t.true(stats.bytesIn < size, `${stats.bytesIn} bytes uploaded`);
  t.is(stats.copies, files);
  await waitFor('the moves logged', () => logged(d, 'moveRemote').length === files);
  t.true(same(await w.get('album-2024/p7.jpg'), Buffer.alloc(size, 7)));
  t.is(await w.stop(d), 0);
});

test.serial('a file rename is a server-side move, not an upload', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const size = 256 * 1024;
  await writeFile(path.join(w.local, 'draft.bin'), Buffer.alloc(size, 3));
  const d = await w.start();
  await server.resetStats();
  for (const [from, to] of [
    ['draft.bin', 'final.bin'],
    ['final.bin', 'sub/final.bin'],
  ] as const) {
    await mkdir(path.join(w.local, 'sub'), { recursive: true });
    await rename(path.join(w.local, from), path.join(w.local, to));
    await waitFor(`${from} -> ${to}`, async () => JSON.stringify(await w.keys()) === JSON.stringify([to]), 60_000);
  }
  const stats = await server.stats();
  t.log(`2 renames of ${size} bytes: ${stats.bytesIn} bytes uploaded, ${stats.copies} copies`);
  t.true(stats.bytesIn < size, `${stats.bytesIn} bytes uploaded`);
  await waitFor('the moves logged', () => logged(d, 'moveRemote').length === 2);
  t.is(await w.stop(d), 0);
});

test.serial('a second daemon on the same config exits 4', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const first = await w.start();
  const { runCli, testEnv } = await import('./helpers/cli.js');
  const second = await runCli([], { cwd: w.dir, env: testEnv(server.env) });
  t.is(second.code, 4, second.stderr);
  t.regex(second.stderr, /another agent \(pid \d+/);
  t.is(await w.stop(first), 0);
});
