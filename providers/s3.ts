// Amazon S3 and S3-compatible stores as the remote: paged listing, streamed GET, single PUT or
// multipart upload, batched deletes with per-key errors, server-side copy and move.

import { randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, openSync, readSync } from 'node:fs';
import { open, stat as statFile, type FileHandle } from 'node:fs/promises';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { RemoteConfig } from '../agent/config.js';
import type { RemoteObject } from '../agent/types.js';
import { TRASH_DIR } from '../agent/paths.js';
import {
  formatMtime,
  parseMtime,
  ProviderError,
  type DeleteManyOptions,
  type DownloadOptions,
  type ProviderFeatures,
  type RemoteProvider,
  type UploadedObject,
  type UploadOptions,
  type WritePrecondition,
} from './provider.js';
import { createS3Client } from './s3-client.js';
import { FileChangedError, uploadFileMultipart, type MultipartTarget } from './s3-multipart.js';
import { mapS3Error, s3KeyError, type S3ErrorContext } from './s3-errors.js';

export type S3RemoteConfig = Omit<Extract<RemoteConfig, { provider: 's3' }>, 'provider'> & { readonly provider?: 's3' };

/** The `s3` remote of agent.config.json plus tuning knobs (not in the config file). */
export interface S3ProviderOptions extends S3RemoteConfig {
  /** Bytes per multipart part; files of at least this size are uploaded multipart. @default 16 MiB */
  readonly partSize?: number;
  /** Parts in flight per multipart upload (memory ≈ partSize × queueSize). @default 4 */
  readonly queueSize?: number;
  /** Keep-alive sockets per client. @default 64 */
  readonly maxSockets?: number;
}

const PROVIDER = 's3';
const MIB = 1024 * 1024;
const DELETE_BATCH = 1000;
/** The ETag of an empty object (the conditional-delete probe's scratch object). */
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/"/g, '');
/**
 * A single-part ETag is the MD5 of the bytes; a multipart one (`…-N`) is not, nor is the ETag of
 * an SSE-KMS object (rclone's rule).
 */
const md5Of = (token: string, sse?: string): string | undefined => (/^[0-9a-f]{32}$/.test(token) && !sse?.startsWith('aws:kms') ? token : undefined);

/** Passes exactly `size` bytes through (counting them for progress); fewer means the file changed. */
function exactLength(size: number, onProgress: ((bytes: number) => void) | undefined, onShort: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      onProgress?.(seen);
      done(null, chunk);
    },
    flush(done) {
      if (seen === size) return done();
      onShort();
      done(new Error(`read ${seen} of ${size} bytes`));
    },
  });
}

/**
 * Files up to this size are read whole into one buffer, with synchronous calls, and sent from it.
 * Per small file that saves a read stream, a transform and a pipeline (~18% of a 5,000-file first
 * upload's CPU), and the fs/promises calls: each costs a trip through the thread pool and a
 * promise, far more than the syscall on a cached file (10,000 files of 256 B–64 KiB, open, fstat,
 * read, close: 2.2–2.6 s of CPU async, 0.46–0.58 s sync; bench/results.md §12). Reading 1 MiB
 * blocks the event loop for well under a millisecond from the page cache. @default 1 MiB
 */
const SMALL_FILE = 1024 * 1024;

class FileChangedWhileRead extends Error {}

/**
 * A small file's bytes: exactly the size of the open file, or `undefined` when it is larger than
 * SMALL_FILE (the caller streams it from its own handle; one more open for a large file is
 * nothing beside its transfer). Throws FileChangedWhileRead when it grew or shrank meanwhile.
 */
function readSmallSync(file: string): Buffer | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > SMALL_FILE) return undefined;
    // One byte more than expected tells a file that grew from one that is exactly `size`.
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      got += n;
      if (n === 0 || got === buf.length) break;
    }
    if (got !== size) throw new FileChangedWhileRead(`read ${got} bytes of a file of ${size}`);
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** S3's conditional-write headers for a precondition (the ETag quoted, as S3 sends it). */
const conditionHeaders = (p: WritePrecondition): { IfNoneMatch?: string; IfMatch?: string } =>
  p.kind === 'absent' ? { IfNoneMatch: '*' } : { IfMatch: `"${p.token}"` };

export class S3Provider implements RemoteProvider {
  readonly features: ProviderFeatures;
  readonly #client: S3Client;
  readonly #bucket: string;
  /** The prefix without trailing slashes; '' is the whole bucket. */
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #opts: S3ProviderOptions;
  /** Whether the store enforces If-None-Match/If-Match on writes: probed once, on first use. */
  #conditional: Promise<boolean> | undefined;
  /** Whether the store enforces an ETag per key in DeleteObjects: probed once, on first use. */
  #conditionalDeletes: Promise<boolean> | undefined;
  /** The conditional-delete probe's scratch key, still to delete (with the next batch, or on close). */
  #probeLeftover: string | undefined;

  constructor(opts: S3ProviderOptions) {
    this.#opts = opts;
    this.#bucket = opts.bucket;
    this.#prefix = (opts.prefix ?? '').replace(/\/+$/, '');
    this.#partSize = Math.max(opts.partSize ?? 16 * MIB, 5 * MIB);
    this.#queueSize = opts.queueSize ?? 4;
    this.#client = createS3Client(opts);
    this.features = { name: PROVIDER, hash: 'md5', remoteId: `s3:${opts.endpoint ?? 'aws'}/${this.#bucket}/${this.#prefix}` };
  }

  #key(path: string): string {
    const key = this.#prefix ? `${this.#prefix}/${path}` : path;
    if (path === '' || Buffer.byteLength(key) > 1024) {
      throw new ProviderError('invalid-key', PROVIDER, `"${path}" cannot be an S3 key in bucket ${this.#bucket} (empty or longer than 1024 bytes): rename it`);
    }
    return key;
  }

  /** Storage class and encryption for every write (PUT, multipart, copy). */
  #writeOptions(): Pick<PutObjectCommandInput, 'StorageClass' | 'ServerSideEncryption'> {
    return {
      ...(this.#opts.storageClass ? { StorageClass: this.#opts.storageClass as PutObjectCommandInput['StorageClass'] } : {}),
      ...(this.#opts.sse ? { ServerSideEncryption: this.#opts.sse } : {}),
    };
  }

  #ctx(doing: string, path?: string): S3ErrorContext {
    return { bucket: this.#bucket, doing, key: path, endpoint: this.#opts.endpoint };
  }

  async *list(signal?: AbortSignal): AsyncIterable<readonly RemoteObject[]> {
    const listPrefix = this.#prefix ? `${this.#prefix}/` : '';
    const fetchPage = (token: string | undefined): Promise<ListObjectsV2CommandOutput> => {
      const p = this.#client
        .send(
          // EncodingType url: keys holding characters XML 1.0 cannot carry still list.
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: listPrefix || undefined, MaxKeys: 1000, ContinuationToken: token, EncodingType: 'url' }),
          { abortSignal: signal },
        )
        .catch((err: unknown) => {
          throw mapS3Error(err, this.#ctx('listing'));
        });
      // Awaited below; a consumer that stops early leaves it unawaited, and that is no error.
      p.catch(() => undefined);
      return p;
    };
    let next: Promise<ListObjectsV2CommandOutput> | undefined = fetchPage(undefined);
    while (next) {
      const out: ListObjectsV2CommandOutput = await next;
      const token = out.IsTruncated ? out.NextContinuationToken : undefined;
      // The next page is asked for before this one is handed over: the pass's work on a page (key
      // checks, hashing what it shows) then overlaps the store's on the next, not adds to it.
      next = token ? fetchPage(token) : undefined;
      // Stores that ignore EncodingType do not echo it and return raw keys; S3 encodes ' ' as '+'.
      const decode = out.EncodingType === 'url' ? (k: string) => this.#decodeKey(k) : (k: string) => k;
      const page: RemoteObject[] = [];
      for (const o of out.Contents ?? []) {
        const key = o.Key === undefined ? undefined : decode(o.Key);
        if (key === undefined || !key.startsWith(listPrefix) || key === listPrefix) continue;
        const etag = unquote(o.ETag);
        page.push({ path: key.slice(listPrefix.length), size: o.Size ?? 0, token: etag, hash: md5Of(etag, this.#opts.sse), uploadedMs: o.LastModified?.getTime() });
      }
      if (page.length > 0) yield page;
      if (out.IsTruncated && !out.NextContinuationToken) {
        throw new ProviderError('other', PROVIDER, `listing bucket ${this.#bucket} was cut short without a continuation token; the store is not S3-compatible enough`);
      }
    }
  }

  #decodeKey(encoded: string): string {
    try {
      return decodeURIComponent(encoded.replace(/\+/g, ' '));
    } catch (err) {
      throw new ProviderError('other', PROVIDER, `bucket ${this.#bucket} listed a key that is not valid URL encoding: ${encoded}`, { cause: err });
    }
  }

  async stat(path: string): Promise<RemoteObject | undefined> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(path) }));
      const etag = unquote(out.ETag);
      return { path, size: out.ContentLength ?? 0, token: etag, hash: md5Of(etag, out.ServerSideEncryption), mtimeMs: parseMtime(out.Metadata?.mtime), uploadedMs: out.LastModified?.getTime() };
    } catch (err) {
      const mapped = mapS3Error(err, this.#ctx(`stat of ${path}`, path));
      if (mapped.kind === 'not-found') return undefined;
      throw mapped;
    }
  }

  async download(path: string, destFile: string, opts: DownloadOptions = {}): Promise<RemoteObject> {
    const ctx = this.#ctx(`download of ${path}`, path);
    let size = 0;
    let short = false;
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(path) }), { abortSignal: opts.signal });
      size = out.ContentLength ?? 0;
      const body = out.Body instanceof Readable ? out.Body : Readable.from([]);
      await pipeline(body, exactLength(size, opts.onProgress, () => (short = true)), createWriteStream(destFile), { signal: opts.signal });
      const written = (await statFile(destFile)).size;
      if (written !== size) throw new Error(`wrote ${written} of ${size} bytes`);
      const etag = unquote(out.ETag);
      // The GetObject response describes exactly the version whose bytes were written.
      return { path, size, token: etag, hash: md5Of(etag, out.ServerSideEncryption), mtimeMs: parseMtime(out.Metadata?.mtime), uploadedMs: out.LastModified?.getTime() };
    } catch (err) {
      if (short) throw new ProviderError('transient', PROVIDER, `download of ${path} from bucket ${this.#bucket} ended before ${size} bytes; will retry`, { cause: err });
      throw mapS3Error(err, ctx);
    }
  }

  async upload(path: string, srcFile: string, opts: UploadOptions): Promise<UploadedObject> {
    const key = this.#key(path);
    const ctx = this.#ctx(`upload of ${path}`, path);
    const unreadable = (err: unknown): never => {
      if (err instanceof FileChangedWhileRead) throw new ProviderError('transient', PROVIDER, `${srcFile} changed while it was being uploaded; will retry`, { cause: err });
      throw new ProviderError('other', PROVIDER, `cannot read ${srcFile} for upload (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    };
    let small: Buffer | undefined;
    try {
      small = readSmallSync(srcFile);
    } catch (err) {
      unreadable(err);
    }
    if (small) {
      try {
        return await this.#putSingle(path, key, small, small.length, opts);
      } catch (err) {
        throw mapS3Error(err, ctx);
      }
    }
    const handle = await open(srcFile, 'r').catch(unreadable);
    let changed = false;
    try {
      // The size is taken from the open file, and exactly that many bytes are sent.
      const size = (await handle.stat()).size;
      if (size >= this.#partSize) {
        const target = { Bucket: this.#bucket, Key: key, Metadata: { mtime: formatMtime(opts.mtimeMs) }, ...this.#writeOptions(), ...(await this.#conditions(opts)) };
        const put = await this.#putMultipart(target, handle, size, opts);
        return { path, size, token: put.etag, hash: md5Of(put.etag, this.#opts.sse), sentHash: put.md5, mtimeMs: parseMtime(formatMtime(opts.mtimeMs)) };
      }
      const body = pipe(handle.createReadStream({ start: 0, end: size - 1, autoClose: false }), exactLength(size, opts.onProgress, () => (changed = true)), () => undefined);
      return await this.#putSingle(path, key, body, size, opts);
    } catch (err) {
      if (changed) throw new ProviderError('transient', PROVIDER, `${srcFile} changed while it was being uploaded; will retry`, { cause: err });
      throw mapS3Error(err, ctx);
    } finally {
      await handle.close();
    }
  }

  /** The conditional-write headers for the upload's precondition, where the store enforces them. */
  async #conditions(opts: UploadOptions): Promise<{ IfNoneMatch?: string; IfMatch?: string }> {
    return opts.precondition && (await this.conditionalWrites()) ? conditionHeaders(opts.precondition) : {};
  }

  /** One PUT of the whole object; a stream body reports its own progress, a buffer once at the end. */
  async #putSingle(path: string, key: string, body: Buffer | Readable, size: number, opts: UploadOptions): Promise<UploadedObject> {
    const mtime = formatMtime(opts.mtimeMs);
    const params: PutObjectCommandInput = { Bucket: this.#bucket, Key: key, Body: body, ContentLength: size, Metadata: { mtime }, ...this.#writeOptions(), ...(await this.#conditions(opts)) };
    const out = await this.#client.send(new PutObjectCommand(params), { abortSignal: opts.signal });
    const etag = unquote(out.ETag);
    if (Buffer.isBuffer(body)) opts.onProgress?.(size);
    return { path, size, token: etag, hash: md5Of(etag, this.#opts.sse), mtimeMs: parseMtime(mtime) };
  }

  async #putMultipart(target: MultipartTarget, handle: FileHandle, size: number, opts: UploadOptions): Promise<{ etag: string; md5: string }> {
    const multipart = { partSize: this.#partSize, queueSize: this.#queueSize, signal: opts.signal, onProgress: opts.onProgress };
    try {
      const put = await uploadFileMultipart(this.#client, target, handle, size, multipart);
      return { etag: unquote(put.etag), md5: put.md5 };
    } catch (err) {
      if (err instanceof FileChangedError) throw new ProviderError('transient', PROVIDER, `${target.Key}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /**
   * Whether this store enforces S3 conditional writes (AWS S3 since 2024, and stores that follow
   * it; many S3-compatible stores ignore the headers and would overwrite silently). Probed once,
   * with one write that cannot succeed where they are enforced: a PUT of a scratch key that does
   * not exist, "only if its ETag is X". An enforcing store refuses it (404 NoSuchKey or 412) and
   * nothing is written; a store that ignores If-Match stores it, and the probe deletes it again.
   * If-Match came after If-None-Match on S3, so a store with it has both. Read-only credentials,
   * a fault or anything else answers false, and the agent re-checks with a HEAD instead.
   */
  conditionalWrites(): Promise<boolean> {
    this.#conditional ??= this.#probeConditionalWrites();
    return this.#conditional;
  }

  async #probeConditionalWrites(): Promise<boolean> {
    // Under the trash folder, which every agent ignores, so another machine never syncs it.
    const key = this.#key(`${TRASH_DIR}/.conditional-write-probe-${randomUUID()}`);
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: '', IfMatch: '"00000000000000000000000000000000"' }));
    } catch (err) {
      const kind = mapS3Error(err, this.#ctx('probe of conditional writes', key)).kind;
      return kind === 'precondition' || kind === 'not-found';
    }
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })).catch(() => undefined);
    return false;
  }

  async delete(path: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(path) }));
    } catch (err) {
      const mapped = mapS3Error(err, this.#ctx(`delete of ${path}`, path));
      if (mapped.kind !== 'not-found') throw mapped;
    }
  }

  async deleteMany(paths: readonly string[], opts: DeleteManyOptions = {}): Promise<ReadonlyMap<string, ProviderError>> {
    const failed = new Map<string, ProviderError>();
    const tokens = opts.tokens && opts.tokens.size > 0 && (await this.conditionalDeletes()) ? opts.tokens : undefined;
    for (let i = 0; i < paths.length; i += DELETE_BATCH) {
      const batch = paths.slice(i, i + DELETE_BATCH);
      const byKey = new Map<string, string>();
      try {
        const objects: { Key: string; ETag?: string }[] = [];
        for (const p of batch) {
          const Key = this.#key(p);
          byKey.set(Key, p);
          const token = tokens?.get(p);
          objects.push(token === undefined ? { Key } : { Key, ETag: `"${token}"` });
        }
        // The probe's scratch object rides along (its ETag is the md5 of nothing): no request of its own.
        const leftover = tokens ? this.#probeLeftover : undefined;
        if (leftover !== undefined && i === 0) objects.push({ Key: leftover, ETag: `"${EMPTY_MD5}"` });
        const out = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: objects, Quiet: true } }));
        if (leftover !== undefined && i === 0) this.#probeLeftover = undefined;
        // A 200 answer can still carry per-key failures.
        for (const e of out.Errors ?? []) {
          const p = e.Key === undefined ? undefined : byKey.get(e.Key);
          if (p !== undefined && e.Code !== 'NoSuchKey') failed.set(p, s3KeyError(e.Code, e.Message, this.#ctx(`delete of ${p}`, p)));
        }
      } catch (err) {
        for (const p of batch) failed.set(p, mapS3Error(err, this.#ctx(`delete of ${p}`, p)));
      }
    }
    return failed;
  }

  /**
   * Whether this store enforces an ETag per key in DeleteObjects (S3 conditional deletes; many
   * S3-compatible stores ignore it and delete anyway). Probed once, on first use: a scratch object
   * under the trash folder, then a DeleteObjects of it "only if its ETag is X". An enforcing store
   * refuses (PreconditionFailed) and the object goes with the next real batch; one that ignores it
   * deletes it. Anything else (read-only credentials, a fault, another error code) answers false,
   * and the agent re-checks each delete with a HEAD as before.
   */
  conditionalDeletes(): Promise<boolean> {
    this.#conditionalDeletes ??= this.#probeConditionalDeletes();
    return this.#conditionalDeletes;
  }

  async #probeConditionalDeletes(): Promise<boolean> {
    const key = this.#key(`${TRASH_DIR}/.conditional-delete-probe-${randomUUID()}`);
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: '' }));
    } catch {
      return false;
    }
    try {
      const out = await this.#client.send(
        new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: [{ Key: key, ETag: '"00000000000000000000000000000000"' }], Quiet: true } }),
      );
      const refusal = (out.Errors ?? []).find((e) => e.Key === key);
      if (refusal?.Code === 'PreconditionFailed') {
        this.#probeLeftover = key;
        return true;
      }
      if (refusal === undefined) return false; // deleted despite the wrong ETag: nothing left

    } catch {
      // answered below: not enforced
    }
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })).catch(() => undefined);
    return false;
  }

  async copy(from: string, to: string): Promise<RemoteObject> {
    // CopySource is bucket/key with each key segment URL-encoded.
    const source = `${this.#bucket}/${this.#key(from).split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(to),
          CopySource: source,
          MetadataDirective: 'COPY',
          ...this.#writeOptions(),
        }),
      );
    } catch (err) {
      throw mapS3Error(err, this.#ctx(`copy of ${from} to ${to}`, from));
    }
    const copied = await this.stat(to);
    if (!copied) throw new ProviderError('transient', PROVIDER, `${to} vanished right after it was copied in bucket ${this.#bucket}; will retry`);
    return copied;
  }

  async move(from: string, to: string): Promise<RemoteObject> {
    const moved = await this.copy(from, to);
    await this.delete(from);
    return moved;
  }

  async close(): Promise<void> {
    const leftover = this.#probeLeftover;
    this.#probeLeftover = undefined;
    if (leftover !== undefined) await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: leftover })).catch(() => undefined);
    this.#client.destroy();
  }
}

export function createS3Provider(opts: S3ProviderOptions): RemoteProvider {
  return new S3Provider(opts);
}

// Compile-time check (rclone's interface-check block): every capability but contentHash (S3
// cannot hash without a download) and createRoot (a bucket is made by its owner, not by sync).
const _s3Capabilities = {} as S3Provider satisfies Required<Omit<RemoteProvider, 'contentHash' | 'createRoot'>>;
