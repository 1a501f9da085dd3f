// End to end through the CLI against a real S3 server (s3rver) and real temp folders.

import test from 'ava';
import { mkdir, readFile, readdir, rm, stat, writeFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { readTree, tmpDir } from './helpers/tmp.js';
import { runCli, writeConfig, summaryOf } from './helpers/cli.js';
import { createWorld, eventPaths, type World } from './helpers/world.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const world = (pair: Record<string, unknown> = {}, remote: Record<string, unknown> = {}): Promise<World> => createWorld(server, { pair, remote });
const tree = (root: string): Promise<Record<string, string>> => readTree(root);
const events = eventPaths;

test('uploads a tree byte-exact, then a second pass transfers nothing', async (t) => {
  const w = await world();
  await mkdir(path.join(w.local, 'a/b'), { recursive: true });
  await writeFile(path.join(w.local, 'top.txt'), 'top');
  await writeFile(path.join(w.local, 'a/one.txt'), 'one');
  await writeFile(path.join(w.local, 'a/b/two.bin'), Buffer.alloc(70_000, 7));
  await writeFile(path.join(w.local, 'empty.txt'), '');
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  // A cron job mails whatever lands on stderr: no warning from Node or the SDK (on Node 20 the
  // SDK warned of its Node 22 plans, seven lines at every run).
  t.is(first.stderr, '');
  t.is(summaryOf(first), 'uploaded 4, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await w.keys(), ['a/b/two.bin', 'a/one.txt', 'empty.txt', 'top.txt']);
  t.deepEqual(await w.get('a/b/two.bin'), Buffer.alloc(70_000, 7));
  t.deepEqual(await w.get('empty.txt'), Buffer.alloc(0));

  const second = await w.run();
  t.is(second.code, 0, second.stderr);
  t.is(summaryOf(second), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await w.cleanup();
});

test('after a download the next pass uploads nothing, and after an upload it downloads nothing', async (t) => {
  const w = await world();
  await w.put('remote.txt', 'from the bucket');
  await writeFile(path.join(w.local, 'local.txt'), 'from the disk');
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  t.deepEqual(events(first, 'download'), ['remote.txt']);
  t.deepEqual(events(first, 'upload'), ['local.txt']);
  t.is(await readFile(path.join(w.local, 'remote.txt'), 'utf8'), 'from the bucket');
  const second = await w.run();
  t.deepEqual(events(second, 'download'), []);
  t.deepEqual(events(second, 'upload'), []);
  t.is(summaryOf(second), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await w.cleanup();
});

test('changes, additions and deletions on each side converge in one pass', async (t) => {
  const w = await world();
  for (const n of ['keep', 'lchange', 'rchange', 'ldelete', 'rdelete']) await writeFile(path.join(w.local, `${n}.txt`), `v1 ${n}`);
  t.is((await w.run()).code, 0);

  await writeFile(path.join(w.local, 'lchange.txt'), 'v2 local change');
  await writeFile(path.join(w.local, 'ladd.txt'), 'local add');
  await rm(path.join(w.local, 'ldelete.txt'));
  await w.put('rchange.txt', 'v2 remote change');
  await w.put('radd.txt', 'remote add');
  await w.del('rdelete.txt');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 2, downloaded 2, deleted 2, conflicts 0, failed 0');
  const expected = { 'keep.txt': 'v1 keep', 'lchange.txt': 'v2 local change', 'rchange.txt': 'v2 remote change', 'ladd.txt': 'local add', 'radd.txt': 'remote add' };
  t.deepEqual(await tree(w.local), expected);
  t.deepEqual(await w.keys(), Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) t.is((await w.get(k))?.toString(), v);
  t.is(summaryOf(await w.run()), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await w.cleanup();
});

test('a conflict keeps both versions on both sides', async (t) => {
  const w = await world();
  await writeFile(path.join(w.local, 'doc.txt'), 'base');
  t.is((await w.run()).code, 0);
  await w.put('doc.txt', 'remote edit');
  await writeFile(path.join(w.local, 'doc.txt'), 'local edit, newer');
  const future = new Date(Date.now() + 3_600_000);
  await utimes(path.join(w.local, 'doc.txt'), future, future);
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const files = await tree(w.local);
  t.is(files['doc.txt'], 'local edit, newer');
  const copies = Object.keys(files).filter((f) => /^doc\.sync-conflict-\d{8}-\d{6}-remote\.txt$/.test(f));
  t.is(copies.length, 1, JSON.stringify(files));
  t.is(files[copies[0]!], 'remote edit');
  t.deepEqual(await w.keys(), ['doc.txt', copies[0]!].sort());
  t.is((await w.get('doc.txt'))?.toString(), 'local edit, newer');
  t.is((await w.get(copies[0]!))?.toString(), 'remote edit');
  const again = await w.run();
  t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  await w.cleanup();
});

test('hostile remote keys are skipped and reported, nothing is written outside the root', async (t) => {
  const w = await world();
  const hostile = ['../escape.txt', 'a/../../x', '/abs.txt', 'a//b.txt'];
  for (const k of hostile) await w.put(k, `hostile ${k}`);
  await w.put('fine.txt', 'fine');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await tree(w.dir + '/local'), { 'fine.txt': 'fine' });
  const outside = await readdir(w.dir);
  t.deepEqual(outside.filter((n) => !['local', '.state', 'agent.config.json'].includes(n)), []);
  const summary = r.logs.find((l) => l.event === 'summary') as { skipped?: string[] } | undefined;
  for (const k of hostile) t.true(summary?.skipped?.some((s) => s.includes(k)) ?? false, `${k} reported`);
  const dry = await w.run('--reconcile', '--dry-run');
  for (const k of hostile) t.true(dry.stdout.includes(`skip ${k}:`), `${k} in dry-run`);
  await w.cleanup();
});

test('an invalid config exits 2 naming the field; a credential in the config is refused', async (t) => {
  const tmp = await tmpDir('cfg-');
  await writeConfig(tmp.path, { pairs: [{ name: 'x', local: './l', remote: { provider: 's3', bucket: 'bkt' }, direction: 'sideways' }] });
  const bad = await runCli(['--reconcile'], { cwd: tmp.path });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /pairs\[0\]\.direction/);
  await writeConfig(tmp.path, { pairs: [{ name: 'x', local: './l', remote: { provider: 's3', bucket: 'bkt', secretAccessKey: 'hunter2' } }] });
  const cred = await runCli(['--reconcile'], { cwd: tmp.path });
  t.is(cred.code, 2);
  t.regex(cred.stderr, /pairs\[0\]\.remote\.secretAccessKey: credentials do not belong/);
  t.false(cred.stderr.includes('hunter2'));
  const usage = await runCli(['--bogus'], { cwd: tmp.path });
  t.is(usage.code, 2);
  await tmp.cleanup();
});

test('--dry-run prints the plan and changes nothing, state included', async (t) => {
  const w = await world();
  await writeFile(path.join(w.local, 'new.txt'), 'new');
  await w.put('remote.txt', 'r');
  const r = await w.run('--reconcile', '--dry-run');
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.includes('upload new.txt'));
  t.true(r.stdout.includes('download remote.txt'));
  t.deepEqual(await w.keys(), ['remote.txt']);
  t.deepEqual(await tree(w.local), { 'new.txt': 'new' });
  await t.throwsAsync(stat(path.join(w.dir, '.state', 'main.manifest.json')));
  await w.cleanup();
});
