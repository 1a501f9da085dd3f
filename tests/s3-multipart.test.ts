// The streaming multipart part loop against the real S3 server (s3rver with S3-faithful fixes)
// (through the fault proxy, which holds or fails chosen requests): byte-exact round trips at part
// boundaries, the md5 of the bytes sent, a file that changes while it is sent, an abort, a failing
// part and a lost conditional write. No failure may leave an incomplete upload, or change the object.

import { createHash } from 'node:crypto';
import { appendFile, open, truncate } from 'node:fs/promises';
import path from 'node:path';
import { CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import { createS3Client } from '../providers/s3-client.js';
import { mapS3Error } from '../providers/s3-errors.js';
import { FileChangedError, MAX_PARTS, partSizeFor, uploadFileMultipart, type MultipartOptions } from '../providers/s3-multipart.js';
import { matching, s3Request, startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { tmpDir, writeRandomFile, type TmpDir } from './helpers/tmp.js';

const MIB = 1024 * 1024;
const BUCKET = 'parts';
/** S3's smallest part but the last. */
const PART = 5 * MIB;

let server: S3Server;
let proxy: FaultProxy;
let client: S3Client;
let dir: TmpDir;

test.before(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
  proxy = await startFaultProxy(server.port);
  Object.assign(process.env, server.env);
  client = createS3Client({ endpoint: proxy.endpoint });
  dir = await tmpDir('sync-agent-multipart-');
});

test.after.always(async () => {
  client?.destroy();
  await proxy?.close();
  await server?.stop();
  await dir?.cleanup();
});

const md5 = (data: Uint8Array): string => createHash('md5').update(data).digest('hex');

/** Uploads `file` (its size taken at open, as the provider does) with the part loop. */
async function upload(file: string, key: string, opts: Partial<MultipartOptions> & { IfNoneMatch?: string; IfMatch?: string } = {}) {
  const handle = await open(file, 'r');
  const size = (await handle.stat()).size;
  const { IfNoneMatch, IfMatch, ...rest } = opts;
  const put = uploadFileMultipart(client, { Bucket: BUCKET, Key: key, Metadata: { mtime: '1700000000.5' }, IfNoneMatch, IfMatch }, handle, size, {
    partSize: PART,
    queueSize: 2,
    ...rest,
  });
  await put.catch(() => undefined);
  // The handle is the caller's: the upload must leave it open, whatever happened.
  const leftOpen = handle.fd !== -1;
  await handle.close();
  if (!leftOpen) throw new Error("uploadFileMultipart closed the caller's file handle");
  return put;
}

/** Incomplete multipart uploads of `key`, straight from the server. */
async function uploadsOf(key: string): Promise<string[]> {
  const out = await server.client().send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
  return (out.Uploads ?? []).flatMap((u) => (u.Key === key && u.UploadId ? [u.UploadId] : []));
}

async function objectBytes(key: string): Promise<Buffer> {
  const got = await server.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function objectExists(key: string): Promise<boolean> {
  try {
    await server.client().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/** Holds the first request of `op` on `key` at the proxy, runs `meanwhile` once it arrived, then lets it through. */
function holdFirst(op: Parameters<typeof matching>[0][number], key: string, meanwhile: () => Promise<void>): void {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  proxy.inject({ fault: { kind: 'hold', release: released }, match: matching([op], key), times: 1 });
  const stop = proxy.onRequest((req) => {
    const r = s3Request(req);
    if (r.op !== op || r.key !== key) return;
    stop();
    void meanwhile().finally(release);
  });
}

const ROUND_TRIPS = [
  { what: 'one byte past a part (last part of 1 byte)', size: PART + 1, parts: 2 },
  { what: 'exactly two parts', size: 2 * PART, parts: 2 },
  { what: 'three parts, the last of 1 byte (more parts than in flight)', size: 2 * PART + 1, parts: 3 },
  { what: 'smaller than one part', size: 3 * MIB, parts: 1 },
];

for (const c of ROUND_TRIPS) {
  test(`round trip, ${c.what}: the object is the file byte for byte, md5 of the file, S3's multipart ETag`, async (t) => {
    const key = `round/${c.size}`;
    const data = await writeRandomFile(path.join(dir.path, key), c.size);
    const progress: number[] = [];
    const put = await upload(path.join(dir.path, key), key, { onProgress: (b) => progress.push(b) });

    const got = await server.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    t.is(body.length, c.size);
    t.true(body.equals(data), 'bytes differ');
    t.is(put.md5, md5(data));
    t.is(put.etag, (got.ETag ?? '').replace(/"/g, ''));
    t.regex(put.etag, new RegExp(`^[0-9a-f]{32}-${c.parts}$`));
    t.is(got.Metadata?.mtime, '1700000000.5');
    t.is(progress.at(-1), c.size);
    t.true(progress.every((b, i) => i === 0 || b >= (progress[i - 1] ?? 0)), 'progress went backwards');
    t.deepEqual(await uploadsOf(key), []);
  });
}

test('a second upload of a key replaces the object and clears an incomplete upload left by a killed run', async (t) => {
  const key = 'again/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, PART + 7);
  await upload(file, key);
  await server.client().send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
  t.is((await uploadsOf(key)).length, 1);
  const data = await writeRandomFile(file, 2 * PART + 3);
  const put = await upload(file, key);
  t.true((await objectBytes(key)).equals(data));
  t.is(put.md5, md5(data));
  t.deepEqual(await uploadsOf(key), []);
});

test('a file that grows while it is uploaded fails as changed, leaving no object and no incomplete upload', async (t) => {
  const key = 'grows/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, 2 * PART);
  // The size is taken at open; the file grows once the upload has begun.
  holdFirst('initiate-multipart', key, () => appendFile(file, Buffer.alloc(MIB, 1)));
  const err = await t.throwsAsync(upload(file, key), { instanceOf: FileChangedError, message: /changed while uploading.*grew/ });
  t.truthy(err);
  t.deepEqual(await uploadsOf(key), []);
  t.false(await objectExists(key));
});

test('a file that shrinks while it is uploaded fails as changed, leaving no object and no incomplete upload', async (t) => {
  const key = 'shrinks/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, 2 * PART + 1);
  holdFirst('initiate-multipart', key, () => truncate(file, PART + 3));
  await t.throwsAsync(upload(file, key), { instanceOf: FileChangedError, message: /changed while uploading/ });
  t.deepEqual(await uploadsOf(key), []);
  t.false(await objectExists(key));
});

test('an abort while parts are in flight rejects and leaves no object and no incomplete upload', async (t) => {
  const key = 'aborted/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, 3 * PART);
  const controller = new AbortController();
  const why = new Error('the agent is stopping');
  holdFirst('put-part', key, async () => controller.abort(why));
  const err = await t.throwsAsync(upload(file, key, { signal: controller.signal }), { name: 'AbortError' });
  t.is(err?.cause, why);
  t.is(mapS3Error(err, { bucket: BUCKET, doing: 'upload', key }).kind, 'transient');
  t.deepEqual(await uploadsOf(key), []);
  t.false(await objectExists(key));
});

test('an already aborted signal starts no upload', async (t) => {
  const key = 'aborted-before/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, PART + 1);
  await t.throwsAsync(upload(file, key, { signal: AbortSignal.abort() }));
  t.deepEqual(await uploadsOf(key), []);
  t.false(await objectExists(key));
});

test('a part the server refuses fails the upload with the SDK error intact, and the upload is aborted', async (t) => {
  const key = 'refused/file';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, 3 * PART);
  const fault = proxy.inject({ fault: { kind: 'status', status: 503 }, match: (req) => matching(['put-part'], key)(req) && /partNumber=2\b/.test(req.url) });
  try {
    const err = await t.throwsAsync(upload(file, key));
    t.is((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 503);
    t.is(mapS3Error(err, { bucket: BUCKET, doing: 'upload' }).kind, 'transient');
  } finally {
    fault.remove();
  }
  t.deepEqual(await uploadsOf(key), []);
  t.false(await objectExists(key));
});

test('If-None-Match * completes only while the key is absent: else S3\'s 412 as the SDK error, the object untouched, the upload aborted', async (t) => {
  const key = 'conditional/absent';
  const file = path.join(dir.path, key);
  const first = await writeRandomFile(file, PART + 1);
  await upload(file, key, { IfNoneMatch: '*' });
  await writeRandomFile(file, PART + 2);
  const err = await t.throwsAsync(upload(file, key, { IfNoneMatch: '*' }), { name: 'PreconditionFailed' });
  t.is((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 412);
  t.is(mapS3Error(err, { bucket: BUCKET, doing: 'upload', key }).kind, 'precondition');
  t.true((await objectBytes(key)).equals(first), 'the object was overwritten');
  t.deepEqual(await uploadsOf(key), []);
});

test('If-Match completes only over the ETag given: a stale one gets S3\'s 412, the object untouched, the upload aborted', async (t) => {
  const key = 'conditional/match';
  const file = path.join(dir.path, key);
  await writeRandomFile(file, PART + 1);
  const v1 = await upload(file, key);
  const second = await writeRandomFile(file, 2 * PART);
  const v2 = await upload(file, key, { IfMatch: `"${v1.etag}"` });
  t.true((await objectBytes(key)).equals(second));
  await writeRandomFile(file, PART + 5);
  const err = await t.throwsAsync(upload(file, key, { IfMatch: `"${v1.etag}"` }), { name: 'PreconditionFailed' });
  t.is((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 412);
  t.true((await objectBytes(key)).equals(second), 'the object was overwritten');
  t.not(v2.etag, v1.etag);
  t.deepEqual(await uploadsOf(key), []);
});

test('part size: at least the option, a whole number of MiB, and never more than 10,000 parts', (t) => {
  t.is(partSizeFor(100 * MIB, 16 * MIB), 16 * MIB);
  t.is(partSizeFor(100 * MIB, 5 * MIB + 1), 6 * MIB);
  for (const size of [156 * 1024 * MIB, 157 * 1024 * MIB, 1024 * 1024 * MIB, 5 * 1024 * 1024 * MIB]) {
    const part = partSizeFor(size, 16 * MIB);
    t.is(part % MIB, 0);
    t.true(part >= 16 * MIB);
    t.true(Math.ceil(size / part) <= MAX_PARTS, `${size} bytes in ${Math.ceil(size / part)} parts`);
  }
});
