// Safety guards through the CLI (PRODUCT.md §4): when "missing" more likely means "unmounted,
// wrong bucket or failed" than "deleted", the pass exits 3 and changes nothing on either side,
// the manifest file included. `--force` lets an overridable guard through once; never a failed
// listing.

import test, { type ExecutionContext } from 'ava';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf, type CliResult } from './helpers/cli.js';
import { createWorld, worldFingerprint, type World, type WorldOptions } from './helpers/world.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const FILES = ['a.txt', 'b.txt', 'c.txt', 'sub/d.txt'];

/** A world whose four files are synced both ways (and so tracked by the manifest). */
async function synced(t: ExecutionContext, opts: WorldOptions = {}, s: S3Server | undefined = server): Promise<World> {
  const w = await createWorld(s, opts);
  t.teardown(() => w.cleanup());
  await mkdir(path.join(w.local, 'sub'), { recursive: true });
  for (const f of FILES) await writeFile(path.join(w.local, f), `content of ${f}`);
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  t.deepEqual(await w.keys(), FILES);
  return w;
}

/**
 * Runs one pass and checks: exit 3, the expected message, and nothing changed anywhere (the
 * remote is left out when it cannot be read at all).
 */
async function assertGuarded(
  t: ExecutionContext,
  w: World,
  message: RegExp,
  run: () => Promise<CliResult> = () => w.run(),
  opts: { remoteReadable: boolean } = { remoteReadable: true },
): Promise<CliResult> {
  const print = () => worldFingerprint(w, { remote: opts.remoteReadable });
  const before = await print();
  const r = await run();
  t.is(r.code, 3, `exit code; stderr: ${r.stderr}`);
  t.regex(r.stderr, message);
  t.deepEqual(await print(), before, 'nothing changed on either side, manifest byte-identical');
  return r;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

test('local root missing (unmounted disk): exit 3, nothing changed, the guard in status', async (t) => {
  const w = await synced(t);
  await rename(w.local, `${w.local}.unmounted`);
  await assertGuarded(t, w, /does not exist but the manifest tracks 4 files: is the disk mounted\?/);
  t.deepEqual(await w.keys(), FILES);
  const [st] = await w.status();
  t.is(st?.lastPass?.result, 'guard');
  t.regex(st?.guard ?? '', /is the disk mounted/);
  // The agent did not create an empty folder where the disk should be mounted.
  await t.throwsAsync(rm(w.local));
});

test('local root emptied: exit 3, the remote keeps every file', async (t) => {
  const w = await synced(t);
  await rm(w.local, { recursive: true });
  await mkdir(w.local);
  await assertGuarded(t, w, /is empty but the manifest tracks 4 files/);
  t.deepEqual(await w.keys(), FILES);
});

test('remote listing empty (objects deleted behind the agent): exit 3, local files kept', async (t) => {
  const w = await synced(t);
  for (const f of FILES) await w.del(f);
  await assertGuarded(t, w, /lists no objects but the manifest tracks 4 files there/);
  t.is(Object.keys(await worldFingerprint(w).then((f) => f.local)).filter((p) => !p.endsWith('/')).length, 4);
});

test('local deletes above maxDeletePercent: exit 3, no remote delete', async (t) => {
  const w = await synced(t, { pair: { maxDeletePercent: 50 } });
  for (const f of ['a.txt', 'b.txt', 'c.txt']) await rm(path.join(w.local, f));
  await assertGuarded(t, w, /would delete 3 files in s3:\/\/|would delete 3 files in the remote.*75%/);
  t.deepEqual(await w.keys(), FILES);
});

test('remote deletes above maxDeletePercent: exit 3, no local delete', async (t) => {
  const w = await synced(t, { pair: { maxDeletePercent: 50 } });
  for (const f of ['a.txt', 'b.txt', 'c.txt']) await w.del(f);
  await assertGuarded(t, w, /would delete 3 files in the local folder.*75%.*maxDeletePercent is 50%/);
});

test('deletes at the limit, or a single delete, go through', async (t) => {
  const w = await synced(t, { pair: { maxDeletePercent: 25 } });
  // One file is 25% of four: at the limit, not above it.
  await rm(path.join(w.local, 'a.txt'));
  const one = await w.run();
  t.is(one.code, 0, one.stderr);
  t.is(summaryOf(one), 'uploaded 0, downloaded 0, deleted 1, conflicts 0, failed 0');
  // One delete of the three left is 33%, above 25%, but a single file never trips the guard.
  await w.del('b.txt');
  const single = await w.run();
  t.is(single.code, 0, single.stderr);
  t.is(summaryOf(single), 'uploaded 0, downloaded 0, deleted 1, conflicts 0, failed 0');
  t.deepEqual(await w.keys(), ['c.txt', 'sub/d.txt']);
});

test('renames are moves, not deletes: renaming most files passes the guard', async (t) => {
  const w = await synced(t);
  await mkdir(path.join(w.local, 'renamed'));
  for (const f of ['a.txt', 'b.txt', 'c.txt']) await rename(path.join(w.local, f), path.join(w.local, 'renamed', f));
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await w.keys(), ['renamed/a.txt', 'renamed/b.txt', 'renamed/c.txt', 'sub/d.txt']);
  t.is(r.logs.filter((l) => l.event === 'moveRemote').length, 3);
});

test('a missing local root is created on a first run only', async (t) => {
  const w = await createWorld(server);
  t.teardown(() => w.cleanup());
  await rm(w.local, { recursive: true });
  await w.put('from-remote.txt', 'hello');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
  await rm(w.local, { recursive: true });
  await assertGuarded(t, w, /does not exist but the manifest tracks 1 file/);
});

test('--force lets an overridable guard through once; the next excess trips it again', async (t) => {
  const w = await synced(t);
  for (const f of ['a.txt', 'b.txt', 'c.txt']) await rm(path.join(w.local, f));
  await assertGuarded(t, w, /would delete 3 files/);
  const forced = await w.run('--reconcile', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.is(summaryOf(forced), 'uploaded 0, downloaded 0, deleted 3, conflicts 0, failed 0');
  t.deepEqual(await w.keys(), ['sub/d.txt']);

  // --force is not remembered: a new excess of deletes is stopped again.
  for (const f of ['x.txt', 'y.txt', 'z.txt']) await writeFile(path.join(w.local, f), f);
  t.is((await w.run()).code, 0);
  for (const f of ['x.txt', 'y.txt', 'z.txt']) await w.del(f);
  await assertGuarded(t, w, /would delete 3 files in the local folder/);
});

test('--force lets an emptied local root through: the deletes it asked for happen', async (t) => {
  const w = await synced(t);
  for (const f of FILES) await rm(path.join(w.local, f));
  await assertGuarded(t, w, /is empty but the manifest tracks/);
  const forced = await w.run('--reconcile', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.deepEqual(await w.keys(), []);
});

test('a listing that fails on a stopped server: exit 3, and --force does not override it', async (t) => {
  const own = await startS3Server();
  t.teardown(() => own.stop());
  const w = await synced(t, {}, own);
  await rm(path.join(w.local, 'a.txt'));
  await writeFile(path.join(w.local, 'new.txt'), 'new');
  await own.stop();
  const down = { remoteReadable: false };
  await assertGuarded(t, w, /listing of .* did not complete/, () => w.run(), down);
  const forced = await assertGuarded(t, w, /--force does not override this/, () => w.run('--reconcile', '--force'), down);
  t.notRegex(forced.stdout, /"event":"(deleteLocal|deleteRemote|download)"/);
});

test('a listing that fails on a wrong port (first run): exit 3 even with --force, no manifest written', async (t) => {
  // A manifest records the endpoint in its remoteId (another endpoint may be another store, so
  // it is refused with exit 2): a wrong port is tried on a first run.
  const w = await createWorld(server, { remote: { endpoint: `http://127.0.0.1:${await freePort()}` } });
  t.teardown(() => w.cleanup());
  await writeFile(path.join(w.local, 'mine.txt'), 'mine');
  const down = { remoteReadable: false };
  await assertGuarded(t, w, /did not complete/, () => w.run(), down);
  await assertGuarded(t, w, /did not complete/, () => w.run('--reconcile', '--force'), down);
  t.is((await worldFingerprint(w, { remote: false })).manifest, '(none)');
});

test('a listing refused with 403 (wrong secret): exit 3 even with --force, no local delete', async (t) => {
  const w = await synced(t);
  const wrong = { AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  await assertGuarded(t, w, /did not complete/, () => w.runWith(wrong));
  await assertGuarded(t, w, /did not complete/, () => w.runWith(wrong, '--reconcile', '--force'));
});

test('fs remote unmounted (folder missing): a failed listing, not an empty remote; local files stay', async (t) => {
  const w = await synced(t, { fsRemote: true });
  const remote = path.join(w.dir, 'remote');
  await rename(remote, `${remote}.unmounted`);
  await assertGuarded(t, w, /did not complete.*is the disk mounted\?/s);
  await assertGuarded(t, w, /did not complete/, () => w.run('--reconcile', '--force'));
  // The mount point was not recreated as an empty remote.
  await t.throwsAsync(rm(remote));
});

test('fs remote emptied (mounted, nothing in it): exit 3, local files stay', async (t) => {
  const w = await synced(t, { fsRemote: true });
  const remote = path.join(w.dir, 'remote');
  await rm(remote, { recursive: true });
  await mkdir(remote);
  await assertGuarded(t, w, /lists no objects but the manifest tracks 4 files/);
});
