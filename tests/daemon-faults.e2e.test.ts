// The daemon when things go wrong: stopped mid-burst, a remote that goes down and comes back, a
// guard that trips, a watcher that runs out of inotify watches. Real folders, real S3 server.

import test from 'ava';
import { PassThrough } from 'node:stream';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { parseLogs, waitFor } from './helpers/cli.js';
import { daemonWorld, logged, settled } from './helpers/daemon.js';
import { writeRandomFile } from './helpers/tmp.js';
import { startSwitchProxy } from './helpers/switch-proxy.js';
import { runDaemon } from '../agent/daemon.js';
import { createLogger } from '../agent/log.js';
import type { Watcher, WatcherError } from '../agent/watcher.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const same = (a: Buffer | undefined, b: Buffer): boolean => a !== undefined && a.equals(b);

async function localNames(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

test.serial('SIGTERM during a burst: exit 0, a consistent manifest, and a restart converges without conflicts', async (t) => {
  const w = await daemonWorld(server, {}, {});
  t.teardown(w.cleanup);
  const d = await w.start();
  const n = 400;
  const body = (i: number) => `${i}:${'z'.repeat(20_000)}`;
  for (let i = 0; i < n; i++) await writeFile(path.join(w.local, `b${i}.txt`), body(i));
  await waitFor('uploads under way', () => logged(d, 'upload').length >= 10, 60_000, 20);
  const signalled = Date.now();
  const code = await w.stop(d, 'SIGTERM');
  t.log(`exited ${code} ${Date.now() - signalled} ms after SIGTERM, ${logged(d, 'upload').length} of ${n} uploaded`);
  t.is(code, 0);
  t.regex(d.output(), /"event":"stopped"/);

  // Consistent: every entry the manifest holds is true of both sides.
  const m = await w.manifest();
  const client = server.client();
  t.truthy(m, 'the uploads that completed are in the manifest');
  for (const [p, e] of Object.entries(m?.entries ?? {})) {
    const head = await client.send(new HeadObjectCommand({ Bucket: w.bucket, Key: `data/${p}` }));
    t.is(head.ETag?.replaceAll('"', ''), e.remote?.token, `remote side of ${p}`);
    t.is((await readFile(path.join(w.local, p))).length, e.local?.size ?? -1, `local side of ${p}`);
  }
  t.false(await readFile(path.join(w.dir, '.state', 'main.lock')).then(() => true, () => false), 'the lock is released');

  const again = await w.start();
  await waitFor('all files uploaded after the restart', async () => (await w.keys()).length === n, 120_000, 250);
  const keys = await w.keys();
  t.false(keys.some((k) => k.includes('sync-conflict')), 'no conflict copies remotely');
  t.false((await localNames(w.local)).some((k) => k.includes('sync-conflict')), 'no conflict copies locally');
  t.deepEqual(logged(again, 'conflict'), []);
  t.is(await w.stop(again), 0);
});

test.serial('a transfer still running after the grace period is aborted: exit 0, and a restart uploads it whole', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  const d = await w.start({ SYNC_AGENT_STOP_GRACE_MS: '200' });
  await server.resetStats();
  const big = await writeRandomFile(path.join(w.local, 'big.bin'), 48 * 1024 * 1024);
  await waitFor('the upload under way', async () => (await server.stats()).bytesIn > 0, 60_000, 20);
  const signalled = Date.now();
  const code = await w.stop(d, 'SIGTERM');
  t.is(code, 0);
  t.log(`exited ${Date.now() - signalled} ms after SIGTERM (grace 200 ms)`);
  t.regex(d.output(), /"event":"stopped"/);
  const entries = (await w.manifest())?.entries ?? {};
  const keys = await w.keys();
  t.log(`at stop: ${keys.length} object(s), ${Object.keys(entries).length} manifest entries, ${logged(d, 'failed').length} aborted`);
  // Consistent either way: the manifest lists big.bin only if the object is complete.
  if (entries['big.bin']) t.true(same(await w.get('big.bin'), big));

  const again = await w.start();
  await waitFor('big.bin complete after the restart', async () => same(await w.get('big.bin'), big), 120_000, 500);
  t.is(await w.stop(again), 0);
});

test.serial('a remote that goes down is reported in status and retried, never treated as empty', async (t) => {
  const proxy = await startSwitchProxy(server.port);
  t.teardown(() => proxy.close());
  const w = await daemonWorld(server, { reconcileEverySec: 1 }, { endpoint: proxy.endpoint });
  t.teardown(w.cleanup);
  await writeFile(path.join(w.local, 'kept.txt'), 'still here');
  const d = await w.start();
  t.deepEqual(await w.keys(), ['kept.txt']);

  await proxy.down();
  await writeFile(path.join(w.local, 'while-down.txt'), 'written while the remote was down');
  const down = await waitFor('status to say the remote is down', async () => ((await w.status())?.remoteDown === true ? w.status() : undefined), 60_000);
  t.true((down?.pendingPaths ?? 0) >= 1 || down?.lastPass?.result === 'guard', 'the change waits');
  t.deepEqual((await localNames(w.local)).sort(), ['kept.txt', 'while-down.txt'], 'nothing local was deleted');
  t.is(d.logs().filter((l) => l.event === 'remote-down').length, 1, 'logged once');

  await proxy.up();
  await waitFor('the change uploaded once the remote is back', async () => (await w.keys()).includes('while-down.txt'), 60_000);
  await waitFor('status to say the remote is up', async () => (await w.status())?.remoteDown === false, 60_000);
  t.deepEqual(await w.keys(), ['kept.txt', 'while-down.txt']);
  t.deepEqual(logged(d, 'deleteRemote'), []);
  t.is(await w.stop(d), 0);
});

test.serial('a tripped guard is logged once, written to status, and the daemon keeps running', async (t) => {
  const w = await daemonWorld(server, { reconcileEverySec: 1 });
  t.teardown(w.cleanup);
  for (let i = 0; i < 10; i++) await writeFile(path.join(w.local, `f${i}.txt`), `file ${i}`);
  const d = await w.start();
  t.is((await w.keys()).length, 10);
  for (let i = 0; i < 6; i++) await unlink(path.join(w.local, `f${i}.txt`));
  const st = await waitFor('status to show the guard', async () => ((await w.status())?.guard ? w.status() : undefined), 60_000);
  t.regex(st?.guard ?? '', /would delete 6 files/);
  t.is(st?.lastPass?.result, 'guard');
  const trippedAt = Date.now();
  await waitFor('three more periodic passes', () => d.logs().filter((l) => l.event === 'pass-start' && Date.parse(String(l.time)) > trippedAt).length >= 3, 60_000);
  t.is(d.logs().filter((l) => l.event === 'guard').length, 1, 'logged once');
  t.is((await w.keys()).length, 10, 'nothing deleted remotely');
  t.is(d.child.exitCode, null, 'still running');
  t.is(await w.stop(d), 0);
});

test.serial('when inotify watches run out: one clear log line, and periodic passes keep syncing', async (t) => {
  const w = await daemonWorld(server, { reconcileEverySec: 300 });
  t.teardown(w.cleanup);
  const lines = new PassThrough();
  let out = '';
  lines.on('data', (c: Buffer) => (out += c.toString()));
  let stop: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => (stop = resolve));
  let ready = false;
  // The OS refuses every watch: the watcher reports ENOSPC and delivers no event at all.
  const exhausted = async (o: { onError: (e: WatcherError) => void }): Promise<Watcher> => {
    const err: WatcherError = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    setImmediate(() => o.onError(err));
    setImmediate(() => o.onError(err));
    return { close: async () => undefined };
  };
  // In this process the provider reads credentials from process.env, as a user's agent would.
  Object.assign(process.env, server.env);
  const daemon = runDaemon({
    config: path.join(w.dir, 'agent.config.json'),
    log: createLogger({ pretty: false, destination: lines }),
    stopSignal,
    onReady: () => (ready = true),
    worker: { watch: exhausted, fallbackEverySec: 1 },
  });
  t.teardown(async () => {
    stop();
    await daemon.catch(() => undefined);
  });
  await waitFor('ready', () => ready, 60_000);
  await writeFile(path.join(w.local, 'unwatched.txt'), 'found by a periodic pass');
  await waitFor('the periodic pass to upload it', async () => (await w.keys()).includes('unwatched.txt'), 60_000);
  stop();
  t.is(await daemon, 0);
  const logs = parseLogs(out);
  const limit = logs.filter((l) => l.event === 'watch-limit');
  t.is(limit.length, 1, 'one log line however often the watcher complains');
  t.is(limit[0]?.msg, 'inotify watches exhausted: raise fs.inotify.max_user_watches; falling back to periodic passes every 1s');
});

test.serial('status shows tracked files, the last pass and the daemon pid', async (t) => {
  const w = await daemonWorld(server);
  t.teardown(w.cleanup);
  await writeFile(path.join(w.local, 'a.txt'), 'a');
  const d = await w.start();
  const at = Date.now();
  await writeFile(path.join(w.local, 'b.txt'), 'b');
  const st = await settled(w, at);
  t.is(st.trackedFiles, 2);
  t.is(st.daemonPid, d.child.pid);
  t.is(st.remoteDown, false);
  t.is(st.lastPass?.result, 'ok');
  t.is(await w.stop(d), 0);
  const after = await w.status();
  t.is(after?.pendingPaths, 0);
  t.is(after?.daemonPid, undefined, 'a stopped daemon leaves no pid in status');
});
