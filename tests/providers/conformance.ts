// The provider conformance suite (rclone's fstests): one set of tests, driven only by the
// RemoteProvider interface, run against every provider (fs, s3, qiniu). Each test gets a fresh,
// empty remote from `setup` and real files in a temp folder.

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import PQueue from 'p-queue';
import { hashFile } from '../../agent/hasher.js';
import type { RemoteObject } from '../../agent/types.js';
import { isProviderError, type RemoteProvider } from '../../providers/provider.js';
import { tmpDir, writeRandomFile } from '../helpers/tmp.js';

export interface ConformanceRemote {
  readonly provider: RemoteProvider;
  readonly cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Skip the 1,005-object listing test (slow remotes). @default false */
  readonly skipLargeList?: boolean;
}

type Body = (t: ExecutionContext, p: RemoteProvider, dir: string) => Promise<void>;

/** Every object of a listing, and the page sizes. */
export async function listAll(p: RemoteProvider): Promise<{ objects: RemoteObject[]; pages: number[] }> {
  const objects: RemoteObject[] = [];
  const pages: number[] = [];
  for await (const page of p.list()) {
    pages.push(page.length);
    objects.push(...page);
  }
  return { objects, pages };
}

const paths = async (p: RemoteProvider): Promise<string[]> => (await listAll(p)).objects.map((o) => o.path).sort();
const MTIME = 1_600_000_000_123.456;

export function conformance(name: string, setup: () => Promise<ConformanceRemote>, opts: ConformanceOptions = {}): void {
  const run = (title: string, body: Body): void => {
    test(`${name}: ${title}`, async (t) => {
      const remote = await setup();
      const dir = await tmpDir('sync-agent-conformance-');
      try {
        await body(t, remote.provider, dir.path);
      } finally {
        await remote.provider.close?.();
        await remote.cleanup();
        await dir.cleanup();
      }
    });
  };

  /** Writes `content` to a local file and uploads it. */
  const put = async (p: RemoteProvider, dir: string, key: string, content: Buffer, mtimeMs = Date.now()): Promise<RemoteObject> => {
    const src = path.join(dir, `src-${randomBytes(6).toString('hex')}`);
    await writeFile(src, content);
    return p.upload(key, src, { mtimeMs, size: content.length });
  };
  const get = async (p: RemoteProvider, dir: string, key: string): Promise<{ obj: RemoteObject; bytes: Buffer }> => {
    const dest = path.join(dir, `dest-${randomBytes(6).toString('hex')}`);
    const obj = await p.download(key, dest);
    return { obj, bytes: await readFile(dest) };
  };

  run('an empty remote lists nothing (and does not fail)', async (t, p) => {
    t.deepEqual(await paths(p), []);
  });

  if (!opts.skipLargeList) {
    run('lists past 1,000 objects, each exactly once', async (t, p, dir) => {
      const keys = Array.from({ length: 1005 }, (_, i) => `d${i % 7}/f-${String(i).padStart(4, '0')}.txt`);
      const src = path.join(dir, 'one.txt');
      await writeFile(src, 'x');
      const queue = new PQueue({ concurrency: 16 });
      await queue.addAll(keys.map((k) => () => p.upload(k, src, { mtimeMs: Date.now(), size: 1 })));
      const { objects, pages } = await listAll(p);
      t.is(objects.length, 1005, 'no object listed twice or dropped');
      t.deepEqual(objects.map((o) => o.path).sort(), [...keys].sort());
      t.true(pages.length >= 2, `the listing came in pages (${pages.join(', ')})`);
      t.true(objects.every((o) => o.size === 1 && o.token !== ''));
    });
  }

  run('uploads and downloads byte-exact: 0 bytes, small, 20 MiB', async (t, p, dir) => {
    const big = await writeRandomFile(path.join(dir, 'big.bin'), 20 * 1024 * 1024);
    const cases: [string, Buffer][] = [
      ['empty.txt', Buffer.alloc(0)],
      ['small/hello.txt', Buffer.from('hello, world\n')],
      ['big/big.bin', big],
    ];
    for (const [key, content] of cases) {
      const up = await put(p, dir, key, content);
      t.is(up.path, key);
      t.is(up.size, content.length, `${key}: upload reports the size`);
      const { obj, bytes } = await get(p, dir, key);
      t.true(bytes.equals(content), `${key}: downloaded bytes equal the uploaded ones`);
      t.is(obj.size, content.length);
      t.is(obj.token, up.token, `${key}: download reports the version that was uploaded`);
      t.is((await p.stat(key))?.size, content.length);
    }
    t.deepEqual(await paths(p), ['big/big.bin', 'empty.txt', 'small/hello.txt']);
  });

  run('a missing object: stat is undefined, download throws not-found', async (t, p, dir) => {
    t.is(await p.stat('nope/missing.txt'), undefined);
    const err = await t.throwsAsync(p.download('nope/missing.txt', path.join(dir, 'dest')));
    t.true(isProviderError(err) && err.kind === 'not-found', `kind not-found, got ${String(err)}`);
  });

  run('delete removes an object; deleting a missing one succeeds; deleteMany', async (t, p, dir) => {
    await put(p, dir, 'a/keep.txt', Buffer.from('keep'));
    await put(p, dir, 'a/gone.txt', Buffer.from('gone'));
    await p.delete('a/gone.txt');
    t.is(await p.stat('a/gone.txt'), undefined);
    await t.notThrowsAsync(p.delete('a/gone.txt'), 'deleting again succeeds');
    await t.notThrowsAsync(p.delete('never/was.txt'), 'deleting a missing object succeeds');
    t.deepEqual(await paths(p), ['a/keep.txt']);
    if (p.deleteMany) {
      await put(p, dir, 'm/1.txt', Buffer.from('1'));
      await put(p, dir, 'm/2.txt', Buffer.from('2'));
      const failed = await p.deleteMany(['m/1.txt', 'm/2.txt', 'm/missing.txt']);
      t.is(failed.size, 0, `no failures: ${[...failed.values()].join('; ')}`);
      t.deepEqual(await paths(p), ['a/keep.txt']);
    }
  });

  run('mtime round-trips within 1 ms', async (t, p, dir) => {
    const up = await put(p, dir, 'dated.txt', Buffer.from('when'), MTIME);
    const near = (v: number | undefined, what: string): void => {
      t.true(v !== undefined && Math.abs(v - MTIME) < 1, `${what}: ${v} ≈ ${MTIME}`);
    };
    near(up.mtimeMs, 'upload');
    near((await p.stat('dated.txt'))?.mtimeMs, 'stat');
    near((await get(p, dir, 'dated.txt')).obj.mtimeMs, 'download');
  });

  run('awkward names round-trip: spaces, unicode, emoji, URL characters', async (t, p, dir) => {
    const names = ['with spaces/a file.txt', '目录/ü.txt', 'emoji 😀/🎉 party.txt', 'a+b&c=d%20e#f?.txt', "quotes'and\"semi;colon.txt"];
    for (const [i, key] of names.entries()) await put(p, dir, key, Buffer.from(`content ${i}`));
    t.deepEqual(await paths(p), [...names].sort(), 'listed back exactly');
    for (const [i, key] of names.entries()) {
      const { bytes } = await get(p, dir, key);
      t.is(bytes.toString(), `content ${i}`, key);
      await p.delete(key);
    }
    t.deepEqual(await paths(p), []);
  });

  run('copy and move (when the provider has them)', async (t, p, dir) => {
    const content = randomBytes(100_000);
    await put(p, dir, 'from/src.bin', content, MTIME);
    if (p.copy) {
      const copied = await p.copy('from/src.bin', 'to/copy of src.bin');
      t.is(copied.path, 'to/copy of src.bin');
      t.is(copied.size, content.length);
      t.true((await get(p, dir, 'to/copy of src.bin')).bytes.equals(content), 'copy has the same bytes');
      t.not(await p.stat('from/src.bin'), undefined, 'copy keeps the source');
    }
    if (p.move) {
      const moved = await p.move('from/src.bin', 'moved/ü dest.bin');
      t.is(moved.size, content.length);
      t.true((await get(p, dir, 'moved/ü dest.bin')).bytes.equals(content), 'move has the same bytes');
      t.is(await p.stat('from/src.bin'), undefined, 'move removes the source');
      t.true(moved.mtimeMs === undefined || Math.abs(moved.mtimeMs - MTIME) < 1, 'move keeps the mtime');
    }
    if (!p.copy && !p.move) t.log(`${name} has neither copy nor move`);
    t.pass();
  });

  run('the token changes with the content; hash (when set) is the content hash', async (t, p, dir) => {
    const v1 = Buffer.from('version one!');
    const v2 = Buffer.from('version two!'); // same size on purpose
    const src = path.join(dir, 'v1');
    await writeFile(src, v1);
    const expected = await hashFile(src, p.features.hash);
    const up1 = await put(p, dir, 'doc.txt', v1);
    const listed = (await listAll(p)).objects.find((o) => o.path === 'doc.txt');
    const stat1 = await p.stat('doc.txt');
    for (const [what, o] of [['upload', up1], ['list', listed], ['stat', stat1]] as const) {
      t.truthy(o, what);
      if (o?.hash !== undefined) t.is(o.hash, expected, `${what} hash is the ${p.features.hash} of the bytes`);
    }
    t.is(listed?.token, up1.token, 'list and upload agree on the token');
    t.is(stat1?.token, up1.token, 'stat and upload agree on the token');
    if (p.contentHash) t.is(await p.contentHash('doc.txt'), expected, 'contentHash');

    const up2 = await put(p, dir, 'doc.txt', v2);
    t.not(up2.token, up1.token, 'new content, new token');
    t.is((await p.stat('doc.txt'))?.token, up2.token);
    t.is((await get(p, dir, 'doc.txt')).bytes.toString(), 'version two!');
  });
}
