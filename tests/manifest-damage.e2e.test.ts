// A damaged manifest through the CLI (PRODUCT.md §3, "No base yet"): a truncated or corrupt file
// falls back to the last good copy (`.bak`), else to first-run semantics (nothing deleted, equal
// content adopted without a transfer), with the error in `status`, exit 0 and no crash loop.
// A manifest written for another root or bucket is refused (exit 2) and nothing changes.

import test, { type ExecutionContext } from 'ava';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf } from './helpers/cli.js';
import { readTree, writeFiles } from './helpers/tmp.js';
import { createWorld, localFingerprint, worldFingerprint, type World } from './helpers/world.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const QUIET = 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0';
const FILES = { 'a.txt': 'alpha', 'b.txt': 'bravo', 'sub/c.txt': 'charlie', 'sub/d.bin': 'delta'.repeat(5000) };

async function synced(t: ExecutionContext): Promise<World> {
  const w = await createWorld(server);
  t.teardown(() => w.cleanup());
  await writeFiles(w.local, FILES);
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  return w;
}

/** The pass after recovery and the one after it: exit 0, and the second no longer reports it. */
async function assertNoCrashLoop(t: ExecutionContext, w: World): Promise<void> {
  const again = await w.run();
  t.is(again.code, 0, again.stderr);
  t.is(summaryOf(again), QUIET);
  const [st] = await w.status();
  t.is(st?.manifestRecovered, undefined, 'a healthy manifest again');
  t.is(st?.lastPass?.result, 'ok');
}

test('a truncated manifest falls back to the last good copy (.bak): exit 0, no transfer, the error in status', async (t) => {
  const w = await synced(t);
  await writeFile(path.join(w.local, 'e.txt'), 'echo');
  t.is((await w.run()).code, 0); // this save keeps the previous manifest as .bak
  await stat(`${w.manifest}.bak`);
  const whole = await readFile(w.manifest);
  await writeFile(w.manifest, whole.subarray(0, Math.floor(whole.length / 2)));

  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  // The .bak predates e.txt: it has no base there, and the equal content on both sides is adopted.
  t.is(summaryOf(r), QUIET);
  const [st] = await w.status();
  t.regex(st?.manifestRecovered ?? '', /was corrupt \(not JSON.*kept as main\.manifest\.json\.corrupt-.*restored the last good copy/);
  t.true((await readdir(w.stateDir)).some((n) => n.startsWith('main.manifest.json.corrupt-')), 'the damaged file is kept for inspection');
  t.deepEqual(await readTree(w.local), { ...FILES, 'e.txt': 'echo' });
  await assertNoCrashLoop(t, w);
});

// Serial: it reads the server's request counters.
test.serial('a corrupt manifest with no good copy: first run semantics, nothing deleted, equal files adopted without transfer', async (t) => {
  const w = await synced(t);
  await rm(`${w.manifest}.bak`, { force: true });
  await writeFile(w.manifest, '{"version":1,"pair":"main","entr');
  // Deleted on one side while the manifest was lost: without a base these must not become deletes.
  await rm(path.join(w.local, 'a.txt'));
  await w.del('b.txt');
  await server.resetStats();
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 1, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.is((await server.stats()).bytesIn, Buffer.byteLength(FILES['b.txt'] ?? ''), 'only b.txt was sent: the unchanged files were adopted by hash');
  t.deepEqual(await readTree(w.local), FILES);
  t.deepEqual(await w.keys(), Object.keys(FILES).sort());
  const [st] = await w.status();
  t.regex(st?.manifestRecovered ?? '', /corrupt.*no last good copy; starting as a first run \(nothing is deleted\)/);
  const table = await w.run('status');
  t.regex(table.stdout, /manifest\s+manifest .* was corrupt/);
  await assertNoCrashLoop(t, w);
});

for (const [name, body] of [
  ['an empty file', ''],
  ['a JSON null', 'null'],
  ['a manifest of an unknown version', '{"version":99,"pair":"main","root":"/","remoteId":"x","hashAlgo":"md5","entries":{}}'],
  ['an entry of the wrong shape', null],
] as const) {
  test(`${name} is corrupt too: recovered, exit 0, nothing deleted`, async (t) => {
    const w = await synced(t);
    await rm(`${w.manifest}.bak`, { force: true });
    if (body === null) {
      const m = JSON.parse(await readFile(w.manifest, 'utf8')) as { entries: Record<string, unknown> };
      m.entries['a.txt'] = { local: { size: 'big' } };
      await writeFile(w.manifest, JSON.stringify(m));
    } else await writeFile(w.manifest, body);
    await rm(path.join(w.local, 'sub/c.txt'));
    const r = await w.run();
    t.is(r.code, 0, r.stderr);
    t.is(summaryOf(r), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
    t.deepEqual(await readTree(w.local), FILES);
    t.regex((await w.status())[0]?.manifestRecovered ?? '', /corrupt/);
    await assertNoCrashLoop(t, w);
  });
}

test('a manifest written for another local root is refused: exit 2, nothing changes', async (t) => {
  const w = await synced(t);
  const other = path.join(w.dir, 'other');
  await mkdir(other);
  await writeFile(path.join(other, 'unrelated.txt'), 'not synced yet');
  await w.reconfigure({ pair: { local: './other' } });
  const before = { ...(await worldFingerprint(w)), other: await localFingerprint(other) };
  const r = await w.run();
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /manifest .*main\.manifest\.json was written for root .*\/local .*this pair is .*\/other.*move it away or fix the config/);
  t.deepEqual({ ...(await worldFingerprint(w)), other: await localFingerprint(other) }, before);
});

test('a manifest written for another bucket or prefix is refused: exit 2, nothing changes', async (t) => {
  const w = await synced(t);
  const otherBucket = `${w.bucket}-other`;
  await server.createBucket(otherBucket);
  for (const remote of [{ bucket: otherBucket }, { prefix: 'elsewhere' }]) {
    await w.reconfigure({ remote });
    const before = await worldFingerprint(w);
    const r = await w.run();
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /was written for root .* \/ remote s3:.*\/data; this pair is/);
    t.deepEqual(await worldFingerprint(w), before);
  }
  await w.reconfigure({ remote: {} });
  const back = await w.run();
  t.is(back.code, 0, back.stderr);
  t.is(summaryOf(back), QUIET);
});
