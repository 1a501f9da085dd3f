// The world moves while a pass runs: a file rewritten between the scan and its upload (or while
// it is read), an object replaced between the listing and its download, a local edit while a
// download is in flight. The fault proxy holds the agent's request inside the window while the
// test changes the world, so each race happens every time. After the pass the manifest never
// pairs one version's token with another version's bytes; after one more pass both sides are
// byte-exact and equal, and no version was lost.

import test from 'ava';
import { createHash } from 'node:crypto';
import { lstat, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { matching, type FaultProxy, type S3Op } from './helpers/fault-proxy.js';
import { createProxiedWorld, type World } from './helpers/world.js';
import { NOTHING, summaryOf, type CliResult } from './helpers/cli.js';
import { writeRandomFile } from './helpers/tmp.js';
import { agentTempFiles, digest, localDigests, remoteDigests } from './helpers/trees.js';
import type { ManifestDocument } from '../state/manifest.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const MIB = 1024 * 1024;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const why = (r: CliResult): string => `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`;


/**
 * Holds the agent's first `op` request on `key` while `change` runs, then lets it go: the change
 * lands exactly inside the window between the agent's check and its transfer.
 */
function changeWhileHeld(proxy: FaultProxy, op: S3Op, key: string, change: () => Promise<void>): { readonly changed: Promise<void> } {
  let seen!: () => void;
  const arrived = new Promise<void>((resolve) => (seen = resolve));
  const stop = proxy.onRequest((req) => {
    if (matching([op], `/${key}`)(req)) seen();
  });
  const changed = arrived.then(change).finally(stop);
  proxy.inject({ fault: { kind: 'hold', release: changed }, match: matching([op], `/${key}`), times: 1 });
  return { changed };
}

/**
 * What the manifest claims that a pass would trust without reading, checked against the world:
 * a local file whose stat equals its base has the base's hash; an object whose ETag equals its
 * base token has the bytes of the base's hash. Returns the claims that are false.
 */
async function manifestLies(w: World, srv: S3Server = server): Promise<string[]> {
  const m = JSON.parse(await readFile(w.manifest, 'utf8')) as ManifestDocument;
  const lies: string[] = [];
  for (const [p, e] of Object.entries(m.entries)) {
    if (!e.local) continue;
    const file = path.join(w.local, ...p.split('/'));
    const st = await lstat(file).catch(() => undefined);
    if (st && st.size === e.local.size && st.mtimeMs === e.local.mtimeMs && st.ino === e.local.ino && md5(await readFile(file)) !== e.local.hash) {
      lies.push(`${p}: the local stat matches the base, the bytes do not`);
    }
    if (!e.remote || e.local.hash === '') continue; // '': the agent claims not to know what was sent
    const got = await srv.client().send(new GetObjectCommand({ Bucket: w.bucket, Key: `data/${p}` })).catch(() => undefined);
    if (got?.ETag?.replace(/"/g, '') !== e.remote.token) continue;
    const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    if (md5(bytes) !== e.local.hash) lies.push(`${p}: remote token ${e.remote.token} is paired with hash ${e.local.hash}, but its bytes hash to ${md5(bytes)}`);
  }
  return lies;
}

/** Both sides hold exactly `expected`, the manifest tells no lies, and a further pass has nothing to do. */
async function settled(
  t: { deepEqual(a: unknown, b: unknown, m?: string): unknown; is(a: unknown, b: unknown, m?: string): unknown },
  w: World,
  expected: Record<string, Buffer>,
  srv: S3Server = server,
): Promise<void> {
  const want = Object.fromEntries(Object.entries(expected).map(([p, b]) => [p, digest(b)]));
  t.deepEqual(await localDigests(w.local), want, 'local tree');
  t.deepEqual(await remoteDigests(w), want, 'remote objects');
  t.deepEqual(await manifestLies(w, srv), [], 'manifest');
  t.is(summaryOf(await w.run()), NOTHING, 'a further pass');
}

test.serial('a file rewritten after its just-in-time check, before the upload reads it', async (t) => {
  // The window between the local check and the read is the HEAD, sent only to a store that
  // ignores conditional writes (with them, nothing is sent in between: see the torn-read test).
  const own = await startS3Server({ conditionalWrites: false });
  t.teardown(async () => own.stop());
  const { w, proxy } = await createProxiedWorld(own, t);
  const file = path.join(w.local, 'doc.bin');
  await writeRandomFile(file, 200_000);
  t.is((await w.run()).code, 0);

  await writeRandomFile(file, 210_000); // v2: the pass plans its upload
  let v3: Buffer = Buffer.alloc(0);
  // The HEAD is the upload's remote check, made after the local one: rewrite the file in between.
  changeWhileHeld(proxy, 'head', 'doc.bin', async () => void (v3 = await writeRandomFile(file, 220_000)));
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.deepEqual(await manifestLies(w, own), [], 'after the pass');
  const again = await w.run();
  t.is(again.code, 0, why(again));
  await settled(t, w, { 'doc.bin': v3 }, own);
});

test.serial('a file rewritten in place while the upload reads it (a torn read)', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const file = path.join(w.local, 'big.bin');
  await writeRandomFile(file, 1000);
  t.is((await w.run()).code, 0);

  // 12 MiB: one PUT (under the part size), larger than the socket buffers, so the held request
  // stops the agent's read part-way through the file.
  await writeRandomFile(file, 12 * MIB);
  const v3 = Buffer.alloc(12 * MIB, 0x5a);
  changeWhileHeld(proxy, 'put', 'big.bin', async () => {
    const h = await open(file, 'r+');
    await h.write(v3, 0, v3.length, 0); // same size, new bytes, new mtime
    await h.close();
  });
  const r = await w.run();
  t.true(r.code === 0 || r.code === 1, why(r));
  const sent = await w.get('big.bin');
  t.log(`the upload sent ${sent && digest(sent) === digest(v3) ? 'the new bytes' : sent && sent.subarray(-1).equals(v3.subarray(-1)) && !sent.equals(v3) ? 'a torn mix of both versions' : 'other bytes'}`);
  t.deepEqual(await manifestLies(w), [], 'after the pass');
  const again = await w.run();
  t.is(again.code, 0, why(again));
  await settled(t, w, { 'big.bin': v3 });
});

test.serial('a small file rewritten in place while its PUT is on the wire (read whole before it)', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const file = path.join(w.local, 'note.txt');
  await writeRandomFile(file, 1000);
  t.is((await w.run()).code, 0);

  const v2 = await writeRandomFile(file, 2000);
  const v3 = Buffer.alloc(2000, 0x33);
  // Small files are read whole before the PUT: the rewrite lands after the read, during the send.
  changeWhileHeld(proxy, 'put', 'note.txt', async () => {
    const h = await open(file, 'r+');
    await h.write(v3, 0, v3.length, 0); // same size, new bytes, new mtime
    await h.close();
  });
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.deepEqual(await w.get('note.txt'), v2, 'the pass sent the file as it read it');
  t.deepEqual(await manifestLies(w), [], 'after the pass');
  const again = await w.run();
  t.is(again.code, 0, why(again));
  await settled(t, w, { 'note.txt': v3 });
});

test.serial('an object replaced between the listing and its download', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  await w.put('obj.bin', 'version 1');
  t.is((await w.run()).code, 0);

  await w.put('obj.bin', 'version 2, listed');
  const v3 = Buffer.from('version 3, replaced after the listing');
  changeWhileHeld(proxy, 'get', 'obj.bin', () => w.put('obj.bin', v3));
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.deepEqual(await manifestLies(w), [], 'after the pass');
  t.is(await readFile(path.join(w.local, 'obj.bin'), 'utf8'), v3.toString());
  await settled(t, w, { 'obj.bin': v3 });
});

test.serial('a local edit while its download is in flight is not overwritten; both versions are kept', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const file = path.join(w.local, 'shared.txt');
  await writeFile(file, 'version 1');
  t.is((await w.run()).code, 0);

  const remoteEdit = Buffer.from('remote edit');
  await w.put('shared.txt', remoteEdit);
  const localEdit = Buffer.from('local edit, made while the download ran');
  changeWhileHeld(proxy, 'get', 'shared.txt', () => writeFile(file, localEdit));
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is(await readFile(file, 'utf8'), localEdit.toString(), 'the local edit survived the download');
  t.deepEqual(await agentTempFiles(w.local), []);
  t.deepEqual(await manifestLies(w), [], 'after the pass');

  const again = await w.run();
  t.is(again.code, 0, why(again));
  t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const local = await localDigests(w.local);
  t.deepEqual(Object.values(local).sort(), [digest(localEdit), digest(remoteEdit)].sort(), 'both versions kept');
  await settled(t, w, Object.fromEntries(await Promise.all(Object.keys(local).map(async (p) => [p, await readFile(path.join(w.local, p))] as const))));
});

/**
 * A store that enforces conditional writes gets the PUT with If-Match and no HEAD: the window is
 * held on the PUT itself. A store that ignores them gets a HEAD just before the PUT: held there.
 */
for (const store of [
  { name: 'a store with conditional writes', conditional: true, held: 'put' },
  { name: 'a store that ignores conditional writes', conditional: false, held: 'head' },
] as const) {
  test.serial(`an object replaced between the listing and an upload over it (${store.name}): the upload stops, both versions are kept`, async (t) => {
    const own = store.conditional ? undefined : await startS3Server({ conditionalWrites: false });
    t.teardown(async () => own?.stop());
    const { w, proxy } = await createProxiedWorld(own ?? server, t);
    const file = path.join(w.local, 'notes.txt');
    await writeFile(file, 'version 1');
    t.is((await w.run()).code, 0);

    const localEdit = Buffer.from('local edit to upload');
    await writeFile(file, localEdit);
    const remoteEdit = Buffer.from('remote edit, after the listing');
    changeWhileHeld(proxy, store.held, 'notes.txt', () => w.put('notes.txt', remoteEdit));
    const r = await w.run();
    t.is(r.code, 0, why(r));
    t.is((await w.get('notes.txt'))?.toString(), remoteEdit.toString(), 'the remote edit was not overwritten');
    t.deepEqual(await manifestLies(w, own ?? server), [], 'after the pass');

    const again = await w.run();
    t.is(again.code, 0, why(again));
    t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
    const local = await localDigests(w.local);
    t.deepEqual(Object.values(local).sort(), [digest(localEdit), digest(remoteEdit)].sort(), 'both versions kept');
    await settled(t, w, Object.fromEntries(await Promise.all(Object.keys(local).map(async (p) => [p, await readFile(path.join(w.local, p))] as const))), own ?? server);
  });
}

test.serial('a new file whose key another writer creates between the listing and the upload (a store with conditional writes): nothing is overwritten', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  await writeFile(path.join(w.local, 'seed.txt'), 'seed');
  t.is((await w.run()).code, 0);

  const mine = Buffer.from('created here');
  const theirs = Buffer.from('created on another machine, after the listing');
  await writeFile(path.join(w.local, 'new.txt'), mine);
  changeWhileHeld(proxy, 'put', 'new.txt', () => w.put('new.txt', theirs));
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is((await w.get('new.txt'))?.toString(), theirs.toString(), 'the other machine\'s object was not overwritten');

  const again = await w.run();
  t.is(again.code, 0, why(again));
  t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  const local = await localDigests(w.local);
  t.deepEqual(Object.values(local).filter((d) => d !== digest(Buffer.from('seed'))).sort(), [digest(mine), digest(theirs)].sort(), 'both versions kept');
});

test.serial('an object deleted between the listing and an upload over it, with trash on (a store with conditional writes): nothing is lost, the next pass uploads it', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  await w.reconfigure({ pair: { deletes: 'trash' } });
  const file = path.join(w.local, 'notes.txt');
  await writeFile(file, 'version 1');
  await writeFile(path.join(w.local, 'other.txt'), 'keeps the bucket from looking empty (a guard)');
  t.is((await w.run()).code, 0);

  const localEdit = Buffer.from('local edit to upload');
  await writeFile(file, localEdit);
  // The copy into the remote trash is the first request on the key before the PUT: delete the object there.
  changeWhileHeld(proxy, 'copy', 'notes.txt', () => w.del('notes.txt'));
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is((await readFile(file)).toString(), localEdit.toString(), 'the local edit is untouched');
  t.deepEqual(await manifestLies(w), [], 'after the pass');

  const again = await w.run();
  t.is(again.code, 0, why(again));
  t.is((await w.get('notes.txt'))?.toString(), localEdit.toString(), 'the edit reached the bucket');
  t.is((await readFile(file)).toString(), localEdit.toString());
});
