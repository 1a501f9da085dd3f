import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Memory } from 'lowdb';
import { emptyManifest, toDocument, withUpdates, type Manifest } from '../state/manifest.js';
import { ManifestMismatchError, ManifestStore, manifestChunks, manifestFile } from '../state/store.js';
import type { BaseEntry } from '../agent/types.js';

const ROOT = '/data/docs';
const REMOTE = 's3://bucket/docs/';
const opts = (stateDir: string) => ({ stateDir, pair: 'docs', root: ROOT, remoteId: REMOTE, hashAlgo: 'md5' });

function entry(i: number): BaseEntry {
  return {
    local: { size: i, mtimeMs: 1_700_000_000_000 + i, ino: 1000 + i, hash: i.toString(16).padStart(32, '0') },
    remote: { token: `"${i.toString(16).padStart(32, '0')}"`, size: i },
  };
}

function manifestWith(n: number, from = 0): Manifest {
  const entries = new Map<string, BaseEntry>();
  for (let i = from; i < from + n; i++) entries.set(`dir${i % 100}/file-${i}.txt`, entry(i));
  return { ...emptyManifest('docs', ROOT, REMOTE, 'md5'), entries };
}

async function tmpState(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'store-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(file, 'utf8')) as unknown;
/** What the file must hold for `m`: the document as a plain object (JSON.stringify of it is the file). */
const json = (m: Manifest): string => JSON.stringify(toDocument(m));

test('no file is a first run: an empty manifest and nothing recovered', async (t) => {
  const dir = await tmpState(t);
  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest, emptyManifest('docs', ROOT, REMOTE, 'md5'));
  t.is(recovered, undefined);
});

test('round trip: what is saved is what the next start reads', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  const m = manifestWith(50);
  await store.save(m);
  const again = await ManifestStore.open(opts(dir));
  t.deepEqual(again.manifest, m);
  t.is(again.recovered, undefined);
});

test('the previous good file is kept as .bak; no temp files are left behind', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  const m1 = manifestWith(3);
  const m2 = manifestWith(5);
  await store.save(m1);
  await store.save(m2);
  t.deepEqual(await readJson(file), toDocument(m2));
  t.deepEqual(await readJson(`${file}.bak`), toDocument(m1));
  t.deepEqual((await readdir(dir)).sort(), ['docs.manifest.json', 'docs.manifest.json.bak']);
});

test('saving the same manifest object again writes nothing', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  const m = manifestWith(2);
  await store.save(m);
  await rm(file);
  await store.save(m);
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
});

test('a truncated manifest is set aside and the last good copy restored', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  const m1 = manifestWith(10);
  await store.save(m1);
  await store.save(manifestWith(20));
  const full = await readFile(file, 'utf8');
  const truncated = full.slice(0, Math.floor(full.length / 2));
  await writeFile(file, truncated);

  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest, m1);
  t.regex(recovered ?? '', /manifest .* was corrupt \(not JSON.*restored the last good copy/);
  // The corrupt bytes are kept for inspection, and the restored copy is on disk again.
  const corrupt = (await readdir(dir)).filter((f) => f.startsWith('docs.manifest.json.corrupt-'));
  t.is(corrupt.length, 1);
  t.is(await readFile(path.join(dir, corrupt[0] ?? ''), 'utf8'), truncated);
  t.deepEqual(await readJson(file), toDocument(m1));
});

test('a corrupt manifest without a .bak starts a first run and keeps the corrupt copy', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  await writeFile(file, 'this is not json {');
  const { store, manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest, emptyManifest('docs', ROOT, REMOTE, 'md5'));
  t.regex(recovered ?? '', /was corrupt.*no last good copy; starting as a first run \(nothing is deleted\)/);
  const corrupt = (await readdir(dir)).filter((f) => f.includes('.corrupt-'));
  t.is(corrupt.length, 1);
  t.is(await readFile(path.join(dir, corrupt[0] ?? ''), 'utf8'), 'this is not json {');
  // The first save after that works and does not back up anything stale.
  await store.save(manifestWith(1));
  t.deepEqual(await readJson(file), toDocument(manifestWith(1)));
});

test('valid JSON that is not a manifest counts as corrupt too', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  await writeFile(file, JSON.stringify({ version: 99, entries: [] }));
  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest.entries, new Map());
  t.regex(recovered ?? '', /unknown version 99/);
});

test('a manifest file that says null is corrupt, not a first run', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(manifestWith(2));
  await store.save(manifestWith(3));
  await writeFile(file, 'null');
  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest, manifestWith(2));
  t.regex(recovered ?? '', /the document is null.*restored the last good copy/);
});

test('an unusable .bak is not restored', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  await writeFile(file, '');
  await writeFile(`${file}.bak`, '{"version":1');
  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest.entries, new Map());
  t.regex(recovered ?? '', /last good copy is unusable too; starting as a first run/);
});

test('a manifest written for another root or remote is refused, naming both', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(manifestWith(1));

  const otherRoot = await t.throwsAsync(ManifestStore.open({ ...opts(dir), root: '/elsewhere' }), {
    instanceOf: ManifestMismatchError,
  });
  t.regex(otherRoot.message, /written for root \/data\/docs \/ remote s3:\/\/bucket\/docs\/; this pair is \/elsewhere/);
  t.regex(otherRoot.message, /move it away or fix the config/);

  const otherRemote = await t.throwsAsync(ManifestStore.open({ ...opts(dir), remoteId: 's3://other/' }), {
    instanceOf: ManifestMismatchError,
  });
  t.regex(otherRemote.message, /this pair is \/data\/docs \/ s3:\/\/other\//);
  // Refusing must not touch the file.
  t.deepEqual(await readJson(manifestFile(dir, 'docs')), toDocument(manifestWith(1)));
});

test('a manifest of another hash algorithm starts a first run with a message', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(manifestWith(4));
  const { manifest, recovered } = await ManifestStore.open({ ...opts(dir), hashAlgo: 'qetag' });
  t.deepEqual(manifest, emptyManifest('docs', ROOT, REMOTE, 'qetag'));
  t.regex(recovered ?? '', /holds md5 hashes but this pair uses qetag/);
});

test('the Memory adapter round-trips without touching the disk', async (t) => {
  const dir = await tmpState(t);
  const adapter = new Memory<Manifest>();
  const first = await ManifestStore.open({ ...opts(dir), adapter });
  const m = manifestWith(7);
  await first.store.save(m);
  const second = await ManifestStore.open({ ...opts(dir), adapter });
  t.deepEqual(second.manifest, m);
  t.deepEqual(await readdir(dir), []);
});

test('the file on disk is exactly the manifest as JSON (the format does not change)', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  const m = manifestWith(25);
  await store.save(m);
  t.is(await readFile(manifestFile(dir, 'docs'), 'utf8'), json(m));
});

test('written in chunks, the bytes are still exactly JSON.stringify (keys that need escaping, chunk edges)', async (t) => {
  const dir = await tmpState(t);
  const m = manifestWith(10_000);
  const odd = new Map([...m.entries, ['quote"back\\slash/ü/\u2028/emoji-😀.txt', entry(1)], ['123', entry(2)]]);
  const weird: Manifest = { ...m, entries: odd };
  for (const size of [1, 100, 4096]) t.is([...manifestChunks(weird, size)].join(''), json(weird), `chunks of ${size}`);
  // On disk: more than one 1 MiB chunk.
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(weird);
  const text = await readFile(manifestFile(dir, 'docs'), 'utf8');
  t.true(text.length > 1024 * 1024);
  t.is(text, json(weird));
  // Read back in the file's order (an object lists '123' first), the same document.
  t.is(json((await ManifestStore.open(opts(dir))).manifest), json(weird));
});

test('a write that cannot finish keeps the last good file', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(manifestWith(3));
  // A folder where the temp file goes: the write fails before the manifest is touched.
  const tmp = path.join(dir, '.docs.manifest.json.tmp');
  await mkdir(tmp);
  await t.throwsAsync(store.save(manifestWith(4)));
  t.deepEqual(await readJson(file), toDocument(manifestWith(3)));
  await rm(tmp, { recursive: true });
  await store.save(manifestWith(5));
  t.deepEqual(await readJson(file), toDocument(manifestWith(5)));
  t.deepEqual((await readdir(dir)).sort(), ['docs.manifest.json', 'docs.manifest.json.bak']);
});

test('a save refuses a document that is not a manifest and leaves the file alone', async (t) => {
  const dir = await tmpState(t);
  const file = manifestFile(dir, 'docs');
  const { store } = await ManifestStore.open(opts(dir));
  await store.save(manifestWith(3));
  const broken: unknown[] = [
    { ...manifestWith(3), version: 2 },
    { ...manifestWith(3), root: undefined },
    { ...manifestWith(3), entries: null },
    { ...manifestWith(3), entries: [] },
  ];
  for (const doc of broken) {
    await t.throwsAsync(store.save(doc as Manifest), { message: /refusing to save an invalid manifest: (unknown version 2|missing root|missing entries)/ });
  }
  t.deepEqual(await readJson(file), toDocument(manifestWith(3)));
  // The store keeps working after a refusal.
  await store.save(manifestWith(4));
  t.deepEqual(await readJson(file), toDocument(manifestWith(4)));
});

test('a damaged entry is not checked on save but is caught on the next start: the last good copy comes back', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  const good = manifestWith(5);
  await store.save(good);
  const damaged = { ...good, entries: new Map<string, unknown>([...good.entries, ['bad.txt', { local: { size: 'big' } }]]) } as unknown as Manifest;
  await store.save(damaged);
  const { manifest, recovered } = await ManifestStore.open(opts(dir));
  t.deepEqual(manifest, good);
  t.regex(recovered ?? '', /bad entry "bad\.txt".*restored the last good copy/);
});

test('saving 100,000 entries (time printed, not asserted)', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  const big = manifestWith(100_000);
  const t0 = performance.now();
  await store.save(big);
  const first = performance.now() - t0;
  const next = manifestWith(100_000, 1);
  const t1 = performance.now();
  await store.save(next);
  const second = performance.now() - t1;
  const size = (await stat(manifestFile(dir, 'docs'))).size;
  t.log(`save 100k entries: ${first.toFixed(0)} ms, again with .bak: ${second.toFixed(0)} ms, ${(size / 1e6).toFixed(1)} MB`);
  const t2 = performance.now();
  const { manifest } = await ManifestStore.open(opts(dir));
  t.log(`open 100k entries: ${(performance.now() - t2).toFixed(0)} ms`);
  t.is(manifest.entries.size, 100_000);
});

test('names that read as numbers are written where a JSON object lists them, after updates too', async (t) => {
  const dir = await tmpState(t);
  const { store } = await ManifestStore.open(opts(dir));
  // An object lists array-index keys first, ascending; a Map keeps insertion order.
  const first: Manifest = { ...manifestWith(3), entries: new Map([['b.txt', entry(1)], ['42', entry(2)], ['007', entry(3)], ['5', entry(4)]]) };
  await store.save(first);
  t.is(await readFile(manifestFile(dir, 'docs'), 'utf8'), json(first));
  const opened = await ManifestStore.open(opts(dir));
  const next = withUpdates(
    opened.manifest,
    new Map<string, BaseEntry | null>([
      ['3', entry(5)],
      ['4294967295', entry(6)],
      ['a.txt', entry(7)],
      ['42', null],
    ]),
  );
  await opened.store.save(next);
  const text = await readFile(manifestFile(dir, 'docs'), 'utf8');
  t.is(text, json(next));
  t.deepEqual(Object.keys((JSON.parse(text) as { entries: object }).entries), ['3', '5', 'b.txt', '007', '4294967295', 'a.txt']);
});

test('a file named __proto__ is kept like any other', async (t) => {
  const dir = await tmpState(t);
  const { store, manifest } = await ManifestStore.open(opts(dir));
  const m = withUpdates(manifest, new Map([['__proto__', entry(1)], ['a/__proto__', entry(2)]]));
  await store.save(m);
  t.is(await readFile(manifestFile(dir, 'docs'), 'utf8'), json(m));
  const again = await ManifestStore.open(opts(dir));
  t.deepEqual([...again.manifest.entries.keys()], ['__proto__', 'a/__proto__']);
  t.deepEqual(again.manifest.entries.get('__proto__'), entry(1));
});
