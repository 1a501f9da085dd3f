// SIGKILL during a pass, again and again, then passes to completion: every file byte-exact on
// both sides, no conflict copies, no temp files left in the local tree, no incomplete multipart
// uploads left in the bucket. Between kills, no reader ever sees a torn file at a real name.
// Kill points are random (seeded: CRASH_SEED=<n> replays a run) and aimed at the risky moments:
// the listing, after N actions, a multipart upload between its parts, a large download half written.

import test from 'ava';
import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { matching, startFaultProxy, s3Request, type FaultProxy } from './helpers/fault-proxy.js';
import { createWorld, type World } from './helpers/world.js';
import { BIN, NOTHING, summaryOf, testEnv } from './helpers/cli.js';
import { writeRandomFile } from './helpers/tmp.js';
import { agentTempFiles, conflictCopies, digest, digests, localDigests, remoteDigests } from './helpers/trees.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const MIB = 1024 * 1024;
/** Log events that end an action (done, skipped as stale, or failed). */
const ACTION_EVENTS = new Set(['upload', 'download', 'deleteRemote', 'deleteLocal', 'moveRemote', 'conflict', 'stale', 'failed']);
/** The 20 MiB files: multipart uploads, downloads long enough to be caught half written. */
const BIG = /\/big-\d+\.bin$/;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type KillPoint =
  | { readonly at: 'listing' }
  | { readonly at: 'actions'; readonly count: number }
  | { readonly at: 'multipart'; readonly part: number }
  | { readonly at: 'download'; readonly bytes: number };

const describePoint = (k: KillPoint): string =>
  k.at === 'listing'
    ? 'during the listing'
    : k.at === 'actions'
      ? `after ${k.count} actions`
      : k.at === 'multipart'
        ? `as multipart part ${k.part} starts`
        : `with a 20 MiB download held at ${k.bytes} bytes`;

/**
 * Runs `--reconcile` and SIGKILLs it at `point`; resolves when the process is gone. `killed`
 * is false when the pass ended before the point came.
 */
function passKilledAt(w: World, proxy: FaultProxy, point: KillPoint): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--reconcile'], { cwd: w.dir, env: testEnv(server.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let killed = false;
    const kill = (): void => {
      if (killed || child.exitCode !== null) return;
      killed = child.kill('SIGKILL');
    };
    let actions = 0;
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (point.at !== 'actions' || !line.startsWith('{')) continue;
        if (ACTION_EVENTS.has(String((JSON.parse(line) as { event?: unknown }).event)) && ++actions >= point.count) kill();
      }
    });
    child.stderr.resume();
    let parts = 0;
    const unsubscribe = proxy.onRequest((req) => {
      const op = s3Request(req).op;
      if (point.at === 'listing' && op === 'list') kill();
      if (point.at === 'multipart' && op === 'put-part' && ++parts >= point.part) kill();
    });
    // Large downloads are held by the proxy after `bytes` (none completes, so later rounds still
    // have them to interrupt); a download kill comes once a temp file holds those bytes.
    const holdAt = point.at === 'download' ? point.bytes : point.at === 'multipart' ? 1 * MIB : undefined;
    const held = holdAt === undefined ? undefined : proxy.inject({ fault: { kind: 'stall', afterBytes: holdAt }, match: matching(['get'], BIG) });
    const poll =
      point.at === 'download'
        ? setInterval(() => {
            void agentTempFiles(w.local).then(async (temps) => {
              for (const t of temps) if (((await stat(path.join(w.local, t)).catch(() => undefined))?.size ?? 0) >= point.bytes - 4096) kill();
            }, () => undefined);
          }, 25)
        : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      unsubscribe();
      held?.remove();
      if (poll) clearInterval(poll);
      resolve({ killed, code });
    });
  });
}

test.serial('SIGKILL at random points of a pass with 500 files on the move, then passes complete it: byte-exact, no conflict copies, no temp files, no incomplete multipart uploads', async (t) => {
  t.timeout(900_000);
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.log(`CRASH_SEED=${seed}`);
  const random = prng(seed);
  const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

  const proxy = await startFaultProxy(server.port);
  const w = await createWorld(server, { remote: { endpoint: proxy.endpoint }, config: { concurrency: 8 } });
  t.teardown(async () => {
    await proxy.close();
    await w.cleanup();
  });

  // A synced base of 40 files, so that the pass also carries changes to known files.
  const expected = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) expected.set(`base/b-${i}.txt`, await writeRandomFile(path.join(w.local, 'base', `b-${i}.txt`), between(100, 8000)));
  const first = await w.run();
  t.is(first.code, 0, first.stderr);

  // What a reader may see at each path until the end: the old version (or nothing) or the new one.
  const allowed = new Map<string, Set<string>>([...expected].map(([p, b]) => [p, new Set([digest(b)])]));
  const becomes = (p: string, b: Buffer): void => {
    expected.set(p, b);
    allowed.set(p, new Set([...(allowed.get(p) ?? []), digest(b)]));
  };
  // 500 files on the move: 20 + 20 changed, 227 + 227 new small ones, 3 + 3 of 20 MiB (multipart up, long downloads).
  for (let i = 0; i < 20; i++) becomes(`base/b-${i}.txt`, await writeRandomFile(path.join(w.local, 'base', `b-${i}.txt`), between(100, 8000)));
  for (let i = 20; i < 40; i++) {
    const body = Buffer.from(`remote edit ${i} `.repeat(between(10, 500)));
    await w.put(`base/b-${i}.txt`, body);
    becomes(`base/b-${i}.txt`, body);
  }
  for (let i = 0; i < 227; i++) becomes(`up/s-${i}.bin`, await writeRandomFile(path.join(w.local, 'up', `s-${i}.bin`), between(1, 64 * 1024)));
  for (let i = 0; i < 3; i++) becomes(`up/big-${i}.bin`, await writeRandomFile(path.join(w.local, 'up', `big-${i}.bin`), 20 * MIB + i));
  for (let i = 0; i < 227; i++) {
    const body = Buffer.alloc(between(1, 64 * 1024), i % 251);
    await w.put(`down/s-${i}.bin`, body);
    becomes(`down/s-${i}.bin`, body);
  }
  for (let i = 0; i < 3; i++) {
    const body = Buffer.alloc(20 * MIB + i, 7 + i);
    body.writeUInt32BE(i, 1000); // not all alike
    await w.put(`down/big-${i}.bin`, body);
    becomes(`down/big-${i}.bin`, body);
  }

  /** Paths whose bytes are neither the old nor the new version: a torn file a reader could see. */
  const torn = async (): Promise<string[]> => {
    const bad: string[] = [];
    for (const [p, d] of Object.entries(await localDigests(w.local))) {
      if (!path.basename(p).startsWith('.sync-agent-tmp-') && !allowed.get(p)?.has(d)) bad.push(`local ${p}`);
    }
    for (const [p, d] of Object.entries(await remoteDigests(w))) if (!allowed.get(p)?.has(d)) bad.push(`remote ${p}`);
    return bad;
  };

  // Each round aims at a kind of moment the plan (from --dry-run) still holds, at a random depth.
  const kinds = ['listing', 'download', 'multipart', 'download', 'multipart', 'actions', 'download', 'multipart', 'actions', 'actions', 'actions'] as const;
  const landed: string[] = [];
  for (const kind of kinds) {
    const plan = (await w.run('--reconcile', '--dry-run')).stdout.split('\n').filter((l) => /^(upload|download|delete-remote|delete-local|move|conflict) /.test(l));
    if (plan.length <= 1) break;
    const bigUploads = plan.filter((l) => l.startsWith('upload ') && BIG.test(l)).length;
    const bigDownloads = plan.filter((l) => l.startsWith('download ') && BIG.test(l)).length;
    const point: KillPoint =
      kind === 'listing'
        ? { at: 'listing' }
        : kind === 'multipart' && bigUploads > 0
          ? { at: 'multipart', part: between(1, 2 * bigUploads) }
          : kind === 'download' && bigDownloads > 0
            ? { at: 'download', bytes: between(1, 19) * MIB }
            : { at: 'actions', count: between(1, plan.length - 1) };
    const r = await passKilledAt(w, proxy, point);
    t.log(`${plan.length} actions planned, ${describePoint(point)}: ${r.killed ? 'killed' : `the pass ended first (exit ${r.code})`}`);
    if (r.killed) landed.push(point.at);
    t.deepEqual(await torn(), [], `after a kill ${describePoint(point)}`);
  }
  t.log(`kills landed: ${landed.length} (${landed.join(', ')})`);
  let last = await w.run();
  for (let i = 0; i < 3 && !(last.code === 0 && summaryOf(last) === NOTHING); i++) last = await w.run();
  t.is(last.code, 0, last.stderr);
  t.is(summaryOf(last), NOTHING);

  const want = digests(Object.fromEntries(expected));
  const temps = await agentTempFiles(w.local);
  const local = Object.fromEntries(Object.entries(await localDigests(w.local)).filter(([p]) => !path.basename(p).startsWith('.sync-agent-tmp-')));
  const remote = await remoteDigests(w);
  t.deepEqual(conflictCopies([...Object.keys(local), ...Object.keys(remote)]), []);
  t.deepEqual(local, want);
  t.deepEqual(remote, want);
  const uploads = await server.client().send(new ListMultipartUploadsCommand({ Bucket: w.bucket }));
  t.deepEqual((uploads.Uploads ?? []).map((u) => u.Key), [], 'incomplete multipart uploads left in the bucket');
  t.true(landed.length >= 6 && landed.includes('multipart') && landed.includes('download'), `kills landed: ${landed.join(', ')}`);
  t.deepEqual(temps, [], 'temp files of killed downloads left in the local tree');
});

/** A world behind a pass-through proxy, with one 20 MiB file to move; returns the file's bytes. */
async function oneBigFile(t: { teardown(fn: () => Promise<void>): void }, side: 'local' | 'remote'): Promise<{ w: World; proxy: FaultProxy; bytes: Buffer }> {
  const proxy = await startFaultProxy(server.port);
  const w = await createWorld(server, { remote: { endpoint: proxy.endpoint } });
  t.teardown(async () => {
    await proxy.close();
    await w.cleanup();
  });
  const bytes = await writeRandomFile(path.join(w.local, 'big-0.bin'), 20 * MIB + 3);
  if (side === 'remote') {
    await rm(path.join(w.local, 'big-0.bin'));
    await w.put('big-0.bin', bytes);
  }
  return { w, proxy, bytes };
}

const incompleteUploads = async (w: World): Promise<string[]> =>
  ((await server.client().send(new ListMultipartUploadsCommand({ Bucket: w.bucket }))).Uploads ?? []).map((u) => u.Key ?? '');

test.serial('a multipart upload killed between its parts leaves an incomplete upload; the next upload of the file aborts it', async (t) => {
  const { w, proxy, bytes } = await oneBigFile(t, 'local');
  const r = await passKilledAt(w, proxy, { at: 'multipart', part: 2 });
  t.true(r.killed);
  t.deepEqual(await incompleteUploads(w), ['data/big-0.bin'], 'the kill left the litter this test is about');
  const after = await w.run();
  t.is(after.code, 0, after.stderr);
  t.is(summaryOf(after), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await incompleteUploads(w), []);
  t.is(digest((await w.get('big-0.bin')) ?? Buffer.alloc(0)), digest(bytes));
});

test.serial('a download killed half-way leaves a temp file; the next pass removes it and completes the file', async (t) => {
  const { w, proxy, bytes } = await oneBigFile(t, 'remote');
  const r = await passKilledAt(w, proxy, { at: 'download', bytes: 5 * MIB });
  t.true(r.killed);
  t.is((await agentTempFiles(w.local)).length, 1, 'the kill left the temp file this test is about');
  const after = await w.run();
  t.is(after.code, 0, after.stderr);
  t.is(summaryOf(after), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.deepEqual(await agentTempFiles(w.local), []);
  t.deepEqual(await localDigests(w.local), { 'big-0.bin': digest(bytes) });
});
