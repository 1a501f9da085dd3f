// Child-process entry of the test S3 server (see s3-server.ts): s3rver on 127.0.0.1 with the
// fixes below, request counters, and an IPC channel to the parent. Argv: <dataDir> <buckets,...>.
//
// What each fix restores (s3rver 3.7.1 departs from S3 here, and our tests touch it):
// - FaithfulStore stores every object in a folder named by the SHA-256 of its key, with the key
//   in a side file: S3 keys are opaque strings, so `a//b`, `../x`, `/abs`, `a/../../x` and
//   300-byte segments are stored, listed back exactly, and never escape the data folder.
// - FaithfulStore.listObjects sorts keys in UTF-8 byte order and pages with a byte-order
//   start-after: s3rver walks the disk in readdir order, so pages past 1,000 keys drop keys.
// - Bodies are written to a temp file and renamed when complete: a PUT whose client dies
//   mid-body leaves no object (and an existing version intact), as on S3.
// - Multipart objects get S3's ETag (md5 of the part md5s + `-N`), not the md5 of the bytes,
//   so "a multipart ETag is not an MD5" is exercised.
// - `keyAsOneSegment` routes keys with empty segments (s3rver's router drops them) and decodes
//   x-amz-copy-source fully (s3rver uses decodeURI, which leaves %2B, %26, %3F, %23 encoded).
// - `verifySigV4` checks SigV4 signatures (s3rver skips them), so a wrong secret is refused
//   with SignatureDoesNotMatch, as on S3.
// - Conditional writes (S3 since 2024): a PUT, CompleteMultipartUpload or copy carrying
//   `If-None-Match: *` fails with 412 PreconditionFailed when the key exists, and one carrying
//   `If-Match: <etag>` when the key's ETag differs (404 NoSuchKey when it is missing). The check
//   and the commit run under a per-key lock, so two racing writes cannot both pass. s3rver
//   ignores both headers and overwrites; argv `--no-conditional-writes` keeps that behaviour, to
//   test clients against stores that do not enforce them.
// - Conditional deletes (as S3 general purpose buckets serve them; s3-conditional-deletes.ts): a
//   DELETE carrying `If-Match` and a DeleteObjects entry carrying `<ETag>` delete only while the
//   key's ETag matches (412 / a per-key PreconditionFailed otherwise), under the same per-key
//   lock; `--no-conditional-writes` turns them off with the writes.

import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { multipartUploads } from './s3-multipart-uploads.js';
import { conditionalDeletes } from './s3-conditional-deletes.js';

/* The parts of s3rver (CommonJS, untyped) this file touches. */
type Metadata = Record<string, string | number | undefined>;
interface S3ObjectLike { readonly bucket: string; readonly key: string; readonly content: Readable | Buffer; readonly metadata: Metadata }
interface StoreBase {
  readonly rootDirectory: string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Metadata>;
  putMetadata(bucket: string, key: string, metadata: Metadata, md5?: string): Promise<void>;
}
interface KoaContext { method: string; path: string; querystring: string; readonly headers: Record<string, string | string[] | undefined>;
  readonly req: import('node:http').IncomingMessage; get(name: string): string }
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverApp { middleware: Middleware[]; store: StoreBase; context: { store: StoreBase }; run(): Promise<{ port: number }> }

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (opts: object) => S3rverApp;
const FilesystemStore = require('s3rver/lib/stores/filesystem.js') as new (root: string) => StoreBase;
const S3Object = require('s3rver/lib/models/object.js') as new (b: string, k: string, c: null, m: Metadata) => S3ObjectLike;
const S3Error = require('s3rver/lib/models/error.js') as new (code: string, message: string, detail?: object) => Error;

const [ACCESS_KEY, SECRET_KEY, OBJECTS] = ['S3RVER', 'S3RVER', '_objects'];
const byteOrder = (a: Buffer, b: Buffer): number => Buffer.compare(a, b);

/** Streams `content` into a temp file beside `dest`; returns it with its size and md5 (hex). */
async function writeTemp(content: Readable | Buffer, dest: string): Promise<{ tmp: string; size: number; md5: string }> {
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${randomUUID()}`;
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      md5.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, createWriteStream(tmp));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { tmp, size, md5: md5.digest('hex') };
}

/** Streams `content` into `dest` through a temp file; returns its size and md5 (hex). */
async function writeAtomically(content: Readable | Buffer, dest: string): Promise<{ size: number; md5: string }> {
  const { tmp, size, md5 } = await writeTemp(content, dest);
  await rename(tmp, dest).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
  return { size, md5 };
}

/** The If-None-Match / If-Match headers of the write request being served (see conditionalWrites). */
interface WriteConditions { readonly ifNoneMatch?: string; readonly ifMatch?: string }
const writeConditions = new AsyncLocalStorage<WriteConditions>();

class FaithfulStore extends FilesystemStore {
  /**
   * bucket → keys sorted in UTF-8 byte order, loaded from disk once and kept up to date. The
   * promise is stored, not the array, so concurrent first requests share one load.
   */
  #index = new Map<string, Promise<{ key: string; bytes: Buffer }[]>>();

  override getResourcePath(bucket: string, key: string | undefined, resource: string): string {
    // Bucket-level resources (uploads, cors) keep s3rver's layout; `key` may arrive as a number
    // from s3rver's XML parser, hence String().
    if (key === undefined || key === '') return super.getResourcePath(bucket, key, resource);
    const digest = createHash('sha256').update(String(key)).digest('hex');
    return path.join(this.rootDirectory, bucket, OBJECTS, digest, resource);
  }

  #keys(bucket: string): Promise<{ key: string; bytes: Buffer }[]> {
    const keys = this.#index.get(bucket) ?? this.#load(bucket);
    this.#index.set(bucket, keys);
    return keys;
  }

  async #load(bucket: string): Promise<{ key: string; bytes: Buffer }[]> {
    const keys: { key: string; bytes: Buffer }[] = [];
    const dir = path.join(this.rootDirectory, bucket, OBJECTS);
    for (const name of await readdir(dir).catch(() => [])) {
      const key = await readFile(path.join(dir, name, 'key'), 'utf8').catch(() => undefined);
      if (key !== undefined) keys.push({ key, bytes: Buffer.from(key) });
    }
    return keys.sort((a, b) => byteOrder(a.bytes, b.bytes));
  }

  async #remember(bucket: string, key: string, present: boolean): Promise<void> {
    const keys = await this.#keys(bucket);
    const bytes = Buffer.from(key);
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byteOrder(keys[mid]!.bytes, bytes) < 0) lo = mid + 1;
      else hi = mid;
    }
    const found = keys[lo]?.key === key;
    if (present && !found) keys.splice(lo, 0, { key, bytes });
    if (!present && found) keys.splice(lo, 1);
  }

  /** bucket/key → the commit in progress: a conditional check and its write are one step. */
  #commits = new Map<string, Promise<unknown>>();

  async #storeObject(bucket: string, key: string, content: Readable | Buffer, metadata: Metadata, etag?: string): Promise<{ size: number; md5: string }> {
    key = String(key);
    const dest = this.getResourcePath(bucket, key, 'object');
    const written = await writeTemp(content, dest);
    const conditions = writeConditions.getStore();
    const commit = async (): Promise<void> => {
      try {
        if (conditions) await this.#check(dest, conditions);
        await rename(written.tmp, dest);
      } catch (err) {
        await rm(written.tmp, { force: true });
        throw err;
      }
      await writeFile(this.getResourcePath(bucket, key, 'key'), key);
      await this.putMetadata(bucket, key, metadata, etag ?? written.md5);
      await this.#remember(bucket, key, true);
    };
    const lockKey = `${bucket}/${key}`;
    const run = (this.#commits.get(lockKey) ?? Promise.resolve()).catch(() => undefined).then(commit);
    this.#commits.set(lockKey, run);
    try {
      await run;
    } finally {
      if (this.#commits.get(lockKey) === run) this.#commits.delete(lockKey);
    }
    return { size: written.size, md5: etag ?? written.md5 };
  }

  /**
   * Deletes `key` only while its ETag is `etag` (S3 conditional deletes; undefined: always),
   * checked and removed under the key's commit lock so a racing write cannot slip in between.
   */
  async deleteIfMatch(bucket: string, key: string, etag: string | undefined): Promise<'deleted' | 'missing' | 'mismatch'> {
    const dest = this.getResourcePath(bucket, key, 'object');
    const remove = async (): Promise<'deleted' | 'missing' | 'mismatch'> => {
      const current = await readFile(`${dest}.md5`, 'utf8').catch(() => undefined);
      if (current === undefined) return 'missing';
      const wanted = etag?.split(',').map((t) => t.trim().replace(/"/g, ''));
      if (wanted && !wanted.includes('*') && !wanted.includes(current.trim())) return 'mismatch';
      await this.deleteObject(bucket, key);
      return 'deleted';
    };
    const lockKey = `${bucket}/${key}`;
    const run = (this.#commits.get(lockKey) ?? Promise.resolve()).catch(() => undefined).then(remove);
    this.#commits.set(lockKey, run);
    try {
      return await run;
    } finally {
      if (this.#commits.get(lockKey) === run) this.#commits.delete(lockKey);
    }
  }

  /** S3's conditional-write rules against the object now at `dest`. */
  async #check(dest: string, c: WriteConditions): Promise<void> {
    const current = await readFile(`${dest}.md5`, 'utf8').catch(() => undefined);
    const exists = current !== undefined;
    if (c.ifNoneMatch !== undefined && c.ifNoneMatch.trim() === '*' && exists) {
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
    }
    if (c.ifMatch !== undefined) {
      if (!exists) throw new S3Error('NoSuchKey', 'The specified key does not exist.');
      const wanted = c.ifMatch.split(',').map((t) => t.trim().replace(/"/g, ''));
      if (!wanted.includes('*') && !wanted.includes(current.trim())) {
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
      }
    }
  }

  putObject(object: S3ObjectLike): Promise<{ size: number; md5: string }> {
    return this.#storeObject(object.bucket, object.key, object.content, object.metadata);
  }

  async putPart(bucket: string, uploadId: string, partNumber: number | string, content: Readable): Promise<{ size: number; md5: string }> {
    const partPath = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const written = await writeAtomically(content, partPath);
    await writeFile(`${partPath}.md5`, written.md5);
    return written;
  }

  async putObjectMultipart(bucket: string, uploadId: string, parts: readonly { number: number }[]): Promise<{ size: number; md5: string }> {
    const uploadDir = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const key = await readFile(path.join(uploadDir, 'key'), 'utf8');
    const metadata = JSON.parse(await readFile(path.join(uploadDir, 'metadata'), 'utf8')) as Metadata;
    const files = [...parts].sort((a, b) => a.number - b.number).map((p) => path.join(uploadDir, String(p.number)));
    // S3's multipart ETag: md5 of the concatenated binary part md5s, then "-<part count>".
    const partMd5s = await Promise.all(files.map(async (f) => Buffer.from(await readFile(`${f}.md5`, 'utf8'), 'hex')));
    const etag = `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${files.length}`;
    const body = Readable.from(
      (async function* concat() {
        for (const f of files) yield* createReadStream(f);
      })(),
    );
    const result = await this.#storeObject(bucket, key, body, metadata, etag);
    await rm(uploadDir, { recursive: true, force: true });
    return result;
  }

  async copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacement: Metadata | null): Promise<Metadata> {
    const src = (resource: string): string => this.getResourcePath(srcBucket, srcKey, resource);
    const etag = await readFile(src('object.md5'), 'utf8').catch(() => undefined);
    const metadata = replacement ?? (JSON.parse(await readFile(src('metadata.json'), 'utf8')) as Metadata);
    if (src('object') === this.getResourcePath(destBucket, destKey, 'object')) {
      await this.putMetadata(destBucket, destKey, metadata);
    } else {
      await this.#storeObject(destBucket, destKey, createReadStream(src('object')), metadata, etag);
    }
    return this.getMetadata(destBucket, destKey);
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    await rm(path.dirname(this.getResourcePath(bucket, key, 'object')), { recursive: true, force: true });
    await this.#remember(bucket, String(key), false);
  }

  async listObjects(
    bucket: string,
    opts: { delimiter?: string; startAfter?: string; prefix?: string; maxKeys?: number },
  ): Promise<{ objects: S3ObjectLike[]; commonPrefixes: string[]; isTruncated: boolean }> {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = opts;
    const after = Buffer.from(startAfter);
    const keys: string[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    for (const { key, bytes } of await this.#keys(bucket)) {
      if ((startAfter && byteOrder(bytes, after) <= 0) || !key.startsWith(prefix)) continue;
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut !== -1) {
        commonPrefixes.add(key.slice(0, cut + delimiter.length));
        continue;
      }
      if (keys.length >= maxKeys) {
        isTruncated = true;
        break;
      }
      keys.push(key);
    }
    const metas = await Promise.all(keys.map((k) => this.getMetadata(bucket, k).catch(() => undefined)));
    const objects = keys.flatMap((k, i) => (metas[i] ? [new S3Object(bucket, k, null, metas[i])] : []));
    return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
  }
}

export interface Stats { puts: number; bytesIn: number; copies: number; requests: number }
const stats: Stats = { puts: 0, bytesIn: 0, copies: 0, requests: 0 };

/** Counts requests, object PUTs (parts included), copies and request-body bytes. */
const countRequests: Middleware = async (ctx, next) => {
  stats.requests += 1;
  if (ctx.method === 'PUT' && /^\/[^/]+\/./s.test(ctx.path)) {
    if (ctx.headers['x-amz-copy-source'] !== undefined) stats.copies += 1;
    else stats.puts += 1;
  }
  // Count body bytes as they are delivered to whoever consumes the request (pipe, raw-body).
  const req = ctx.req;
  const emit = req.emit.bind(req) as (event: string | symbol, ...args: unknown[]) => boolean;
  req.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'data' && args[0] instanceof Buffer) stats.bytesIn += args[0].length;
    return emit(event, ...args);
  }) as typeof req.emit;
  await next();
};

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Verifies header-signed SigV4 requests for the S3RVER key (other keys: s3rver refuses them). */
const verifySigV4: Middleware = async (ctx, next) => {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(ctx.get('authorization'));
  if (!auth || auth[1] !== ACCESS_KEY) return next();
  const [, , date, region, service, signedHeaders, signature] = auth as unknown as string[];
  const query = ctx.querystring
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const [k, v] = eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
      return `${rfc3986(safeDecode(k))}=${rfc3986(safeDecode(v))}`;
    })
    .sort()
    .join('&');
  const names = signedHeaders!.split(';');
  const headers = names.map((n) => `${n}:${ctx.get(n).trim().replace(/\s+/g, ' ')}\n`).join('');
  // S3 signs the path exactly as sent: no normalisation, no second encoding.
  const canonical = [ctx.method, ctx.path, query, headers, signedHeaders, ctx.get('x-amz-content-sha256')].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', ctx.get('x-amz-date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${SECRET_KEY}`, date!), region!), service!), 'aws4_request');
  if (hmac(key, toSign).toString('hex') !== signature) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  await next();
};

/** Serves a write that carries If-None-Match/If-Match with them in scope for the store's commit. */
const conditionalWrites: Middleware = async (ctx, next) => {
  if (ctx.method !== 'PUT' && ctx.method !== 'POST') return next();
  const ifNoneMatch = ctx.get('if-none-match') || undefined;
  const ifMatch = ctx.get('if-match') || undefined;
  if (ifNoneMatch === undefined && ifMatch === undefined) return next();
  await writeConditions.run({ ifNoneMatch, ifMatch }, next);
};

/** Passes the whole key as one path segment (the router drops empty ones); fixes copy sources. */
const keyAsOneSegment: Middleware = async (ctx, next) => {
  const m = /^\/([^/]+)\/(.+)$/s.exec(ctx.path);
  if (m) ctx.path = `/${m[1]}/${encodeURIComponent(safeDecode(m[2]!))}`;
  const source = ctx.headers['x-amz-copy-source'];
  // s3rver decodes the copy source with decodeURI; encodeURI is its exact inverse.
  if (typeof source === 'string') ctx.req.headers['x-amz-copy-source'] = encodeURI(safeDecode(source));
  await next();
};

async function main(): Promise<void> {
  const [dataDir, bucketList = '', ...flags] = process.argv.slice(2);
  if (!dataDir || !process.send) throw new Error('usage: s3-server-main.ts <dataDir> [buckets] [--no-conditional-writes] (spawned with an IPC channel)');
  const buckets = bucketList.split(',').filter(Boolean);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dataDir,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  server.store = server.context.store = new FaithfulStore(dataDir);
  const conditional = flags.includes('--no-conditional-writes') ? [] : [conditionalWrites, conditionalDeletes(server.store as FaithfulStore)];
  server.middleware.unshift(countRequests, verifySigV4, ...conditional, multipartUploads(server.store), keyAsOneSegment);
  const { port } = await server.run();

  process.on('message', (msg: { id: number; op: 'stats' | 'reset' | 'stop' }) => {
    if (msg.op === 'stop') process.exit(0); // the parent waits for the exit, then removes dataDir
    if (msg.op === 'reset') Object.assign(stats, { puts: 0, bytesIn: 0, copies: 0, requests: 0 });
    process.send?.({ id: msg.id, result: msg.op === 'stats' ? { ...stats } : null });
  });
  // The parent died or let go of us: never linger.
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', port });
}

main().catch((err: unknown) => {
  process.stderr.write(`s3-server-main: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
