// The s3 provider against a real S3 server (s3rver with S3-faithful fixes, in a child process):
// the conformance suite, then what only S3 has: multipart ETags, request counts, prefixes,
// opaque keys, failed listings and credentials. Credentials come from a temp shared
// credentials file through the standard AWS chain, as users configure them.

import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import PQueue from 'p-queue';
import { createS3Provider, S3Provider, type S3ProviderOptions } from '../../providers/s3.js';
import { isProviderError } from '../../providers/provider.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { tmpDir, waitFor, writeRandomFile, type TmpDir } from '../helpers/tmp.js';
import { conformance, listAll } from './conformance.js';

let server: S3Server;
let home: TmpDir;
const MIB = 1024 * 1024;

test.before(async () => {
  home = await tmpDir('sync-agent-aws-home-');
  await writeFile(
    path.join(home.path, 'credentials'),
    ['[default]', 'aws_access_key_id = S3RVER', 'aws_secret_access_key = S3RVER', '[wrong-secret]', 'aws_access_key_id = S3RVER',
      'aws_secret_access_key = not-the-secret', '[wrong-key]', 'aws_access_key_id = NOBODY', 'aws_secret_access_key = S3RVER', ''].join('\n'),
  );
  // Only the temp credentials file may answer: no host credentials, profiles or instance roles.
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION']) delete process.env[k];
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(home.path, 'credentials');
  process.env.AWS_CONFIG_FILE = path.join(home.path, 'config');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  server = await startS3Server({ buckets: ['conformance', 'raw-keys', 'aborts', 'ordering', 'prefixes', 'counted', 'many'] });
});

test.after.always(async () => {
  await server?.stop();
  await home?.cleanup();
});

const s3 = (opts: Partial<S3ProviderOptions> & { bucket: string }): S3Provider => new S3Provider({ endpoint: server.endpoint, ...opts });

let run = 0;
conformance('s3', async () => {
  const provider = s3({ bucket: 'conformance', prefix: `run-${++run}/` });
  return { provider, cleanup: async () => undefined };
});

/** Every key of a bucket via the raw client, page by page (MaxKeys 1000). */
async function rawKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(out.Contents ?? []).map((o) => o.Key ?? ''));
    token = out.NextContinuationToken;
  } while (token);
  return keys;
}
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

test('s3 fixture: keys are opaque strings, stored and listed back exactly', async (t) => {
  const client = server.client();
  const keys = ['a//b.txt', '../escape.txt', '/abs.txt', 'a/../../x', './dot.txt', `long/${'é'.repeat(150)}.txt`, 'folder/'];
  for (const key of keys) await client.send(new PutObjectCommand({ Bucket: 'raw-keys', Key: key, Body: key === 'folder/' ? Buffer.alloc(0) : `body of ${key}`, ContentLength: key === 'folder/' ? 0 : undefined }));
  t.deepEqual(await rawKeys(client, 'raw-keys'), [...keys].sort(byteOrder));
  for (const key of keys.filter((k) => k !== 'folder/')) {
    const out = await client.send(new GetObjectCommand({ Bucket: 'raw-keys', Key: key }));
    t.is(await out.Body?.transformToString(), `body of ${key}`, key);
  }
  // The provider hands them to the agent raw (it decides what to skip), dir markers included.
  const p = s3({ bucket: 'raw-keys' });
  t.deepEqual((await listAll(p)).objects.map((o) => o.path).sort(), [...keys].sort());
  await p.close();
});

test('s3 fixture: 2,500 keys list completely, in UTF-8 byte order', async (t) => {
  const client = server.client();
  // UTF-16 order differs from UTF-8 order for '\uFF5E' vs '😀': S3 uses bytes.
  const keys = Array.from({ length: 2500 }, (_, i) => `${['k', 'K', 'é', '\uFF5E', '😀'][i % 5]}/${String(i).padStart(4, '0')}`);
  const queue = new PQueue({ concurrency: 32 });
  await queue.addAll(keys.map((Key) => () => client.send(new PutObjectCommand({ Bucket: 'ordering', Key, Body: 'x' }))));
  const listed = await rawKeys(client, 'ordering');
  t.is(listed.length, 2500);
  t.deepEqual(listed, [...keys].sort(byteOrder));
  const p = s3({ bucket: 'ordering' });
  const { objects, pages } = await listAll(p);
  t.deepEqual(pages, [1000, 1000, 500]);
  t.is(new Set(objects.map((o) => o.path)).size, 2500);
  await p.close();
});

test.serial('s3 fixture: a PUT cut off mid-body leaves no object and keeps the old version', async (t) => {
  const client = server.client();
  await client.send(new PutObjectCommand({ Bucket: 'aborts', Key: 'keep.bin', Body: 'old version' }));
  for (const key of ['keep.bin', 'partial.bin']) {
    const before = (await server.stats()).bytesIn;
    const abort = new AbortController();
    // A body that sends 256 KiB of a promised 1 MiB, then stalls until the client gives up.
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(256 * 1024, 1));
    const put = client.send(new PutObjectCommand({ Bucket: 'aborts', Key: key, Body: body, ContentLength: MIB }), { abortSignal: abort.signal });
    await waitFor(async () => (await server.stats()).bytesIn >= before + 256 * 1024, { what: 'the server to receive the first bytes' });
    abort.abort();
    await t.throwsAsync(put);
  }
  const kept = await client.send(new GetObjectCommand({ Bucket: 'aborts', Key: 'keep.bin' }));
  t.is(await kept.Body?.transformToString(), 'old version');
  t.deepEqual(await rawKeys(client, 'aborts'), ['keep.bin']);
  const p = s3({ bucket: 'aborts' });
  t.is(await p.stat('partial.bin'), undefined);
  t.is((await p.stat('keep.bin'))?.size, 'old version'.length);
  await p.close();
});

test.serial('s3: multipart uploads have S3 ETags (not MD5) and exact PUT counts', async (t) => {
  const dir = await tmpDir();
  const p = s3({ bucket: 'counted', partSize: 5 * MIB });
  try {
    const big = await writeRandomFile(path.join(dir.path, 'big.bin'), 20 * MIB);
    await server.resetStats();
    let progress = 0;
    const up = await p.upload('big.bin', path.join(dir.path, 'big.bin'), { mtimeMs: Date.now(), size: big.length, onProgress: (n) => (progress = n) });
    const stats = await server.stats();
    t.regex(up.token, /^[0-9a-f]{32}-4$/, 'a 4-part multipart ETag');
    t.is(up.hash, undefined, 'a multipart ETag is not offered as an MD5');
    t.is(stats.puts, 4, 'one PUT per part');
    t.true(stats.bytesIn >= big.length && stats.bytesIn < big.length + 4096, `bytes in ${stats.bytesIn}`);
    t.is(progress, big.length, 'progress reached the size');
    t.is((await p.stat('big.bin'))?.token, up.token);
    const listed = (await listAll(p)).objects.find((o) => o.path === 'big.bin');
    t.is(listed?.token, up.token);
    t.is(listed?.hash, undefined);

    await writeFile(path.join(dir.path, 'small.txt'), 'small');
    await server.resetStats();
    const small = await p.upload('small.txt', path.join(dir.path, 'small.txt'), { mtimeMs: Date.now(), size: 5 });
    t.deepEqual({ ...(await server.stats()), requests: 0 }, { puts: 1, copies: 0, bytesIn: 5, requests: 0 }, 'a small file is one plain PUT');
    t.regex(small.hash ?? '', /^[0-9a-f]{32}$/);

    await server.resetStats();
    await p.move('big.bin', 'moved/big.bin');
    const moved = await server.stats();
    t.is(moved.puts, 0, 'a move uploads nothing');
    t.is(moved.copies, 1, 'a move is one server-side copy');
    t.true(moved.bytesIn < 1024, `bytes in ${moved.bytesIn}`);
    t.is(await p.stat('big.bin'), undefined);
  } finally {
    await p.close();
    await dir.cleanup();
  }
});

test.serial('s3: deleteMany deletes in batches of 1,000', async (t) => {
  const client = server.client();
  const keys = Array.from({ length: 1001 }, (_, i) => `d/${i}.txt`);
  const queue = new PQueue({ concurrency: 32 });
  await queue.addAll(keys.map((Key) => () => client.send(new PutObjectCommand({ Bucket: 'many', Key, Body: 'x' }))));
  const p = s3({ bucket: 'many' });
  await server.resetStats();
  const failed = await p.deleteMany(keys);
  t.is(failed.size, 0);
  t.is((await server.stats()).requests, 2, 'two DeleteObjects requests');
  t.deepEqual(await rawKeys(client, 'many'), []);
  await p.close();
});

test('s3: "backups" and "backups/" are the same prefix; no prefix is the whole bucket', async (t) => {
  const dir = await tmpDir();
  const a = s3({ bucket: 'prefixes', prefix: 'backups' });
  const b = s3({ bucket: 'prefixes', prefix: 'backups/' });
  const whole = s3({ bucket: 'prefixes' });
  try {
    for (const Key of ['backupsz.txt', 'backups-other/y.txt']) await server.client().send(new PutObjectCommand({ Bucket: 'prefixes', Key, Body: 'x' }));
    await writeFile(path.join(dir.path, 'x.txt'), 'x');
    await a.upload('in/x.txt', path.join(dir.path, 'x.txt'), { mtimeMs: Date.now(), size: 1 });
    t.is(a.features.remoteId, b.features.remoteId);
    t.deepEqual((await listAll(b)).objects.map((o) => o.path), ['in/x.txt']);
    t.deepEqual((await listAll(whole)).objects.map((o) => o.path).sort(), ['backups-other/y.txt', 'backups/in/x.txt', 'backupsz.txt']);
  } finally {
    await Promise.all([a.close(), b.close(), whole.close()]);
    await dir.cleanup();
  }
});

test('s3: files read whole (up to 1 MiB) and streamed (above) arrive byte-exact; a missing or unreadable source fails naming the file and stores nothing', async (t) => {
  const dir = await tmpDir();
  const p = s3({ bucket: 'counted', prefix: 'switch/' });
  try {
    for (const size of [MIB - 1, MIB, MIB + 1, 3 * MIB]) {
      const src = await writeRandomFile(path.join(dir.path, `f-${size}`), size);
      const progress: number[] = [];
      const up = await p.upload(`f-${size}`, path.join(dir.path, `f-${size}`), { mtimeMs: Date.now(), size, onProgress: (b) => progress.push(b) });
      t.is(up.size, size);
      t.is(progress.at(-1), size, `${size}: progress reaches the whole file`);
      const dest = path.join(dir.path, `back-${size}`);
      await p.download(`f-${size}`, dest);
      t.true((await readFile(dest)).equals(src), `${size}: the object holds the file's bytes`);
    }
    await mkdir(path.join(dir.path, 'a-folder'));
    for (const [name, code] of [['missing.txt', 'ENOENT'], ['a-folder', 'EISDIR']] as const) {
      const err = await t.throwsAsync(p.upload(`bad/${name}`, path.join(dir.path, name), { mtimeMs: Date.now(), size: 1 }));
      t.true(isProviderError(err) && err.kind === 'other', `${name}: kind other, got ${String(err)}`);
      t.regex(err?.message ?? '', new RegExp(`cannot read .*${name} for upload \\(${code}\\)`));
    }
    t.deepEqual((await listAll(p)).objects.map((o) => o.path).sort(), ['f-1048575', 'f-1048576', 'f-1048577', 'f-3145728']);
  } finally {
    await p.close();
    await dir.cleanup();
  }
});

test('s3: listing a stopped server or a closed port throws, never an empty listing', async (t) => {
  const other = await startS3Server({ buckets: ['gone'] });
  const p = createS3Provider({ bucket: 'gone', endpoint: other.endpoint });
  await other.stop();
  const free = createServer().listen(0, '127.0.0.1');
  await once(free, 'listening');
  const port = (free.address() as { port: number }).port;
  free.close();
  const q = createS3Provider({ bucket: 'gone', endpoint: `http://127.0.0.1:${port}` });
  for (const provider of [p, q]) {
    let pages = 0;
    const err = await t.throwsAsync(async () => {
      for await (const _ of provider.list()) pages++;
    });
    t.is(pages, 0);
    t.true(isProviderError(err) && err.kind === 'transient', String(err));
    t.regex(err?.message ?? '', /unreachable/);
    await provider.close?.();
  }
});

test('s3: wrong or missing credentials give kind auth, with a message and no secret', async (t) => {
  for (const profile of ['wrong-secret', 'wrong-key', 'no-such-profile']) {
    const p = s3({ bucket: 'conformance', profile });
    const err = await t.throwsAsync(listAll(p));
    t.true(isProviderError(err) && err.kind === 'auth', `${profile}: ${String(err)}`);
    t.regex(err?.message ?? '', /AWS_ACCESS_KEY_ID/, profile);
    t.notRegex(err?.message ?? '', /not-the-secret/);
    await p.close();
  }
  const missing = s3({ bucket: 'no-such-bucket' });
  const err = await t.throwsAsync(listAll(missing));
  t.true(isProviderError(err) && err.kind === 'denied', String(err));
  t.regex(err?.message ?? '', /no-such-bucket.*does not exist/);
  await missing.close();
});

test('s3: an aborted multipart upload throws and leaves no object', async (t) => {
  const dir = await tmpDir();
  const p = s3({ bucket: 'conformance', prefix: 'aborted', partSize: 5 * MIB, queueSize: 1 });
  try {
    await writeRandomFile(path.join(dir.path, 'big.bin'), 20 * MIB);
    const abort = new AbortController();
    const up = p.upload('big.bin', path.join(dir.path, 'big.bin'), { mtimeMs: Date.now(), size: 20 * MIB, signal: abort.signal, onProgress: () => abort.abort() });
    await t.throwsAsync(up);
    t.is(await p.stat('big.bin'), undefined);
  } finally {
    await p.close();
    await dir.cleanup();
  }
});
