// Multipart uploads for the S3 provider, and the litter they can leave: an agent killed in the
// middle of one (SIGKILL, power loss) leaves an incomplete upload whose parts S3 keeps, and
// bills, until someone aborts it. The part loop aborts its upload on errors and on abort
// signals; a killed process aborts nothing, so the next upload of the same key clears what is left.

import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHasher } from '../agent/hasher.js';

const MIB = 1024 * 1024;
/** S3 refuses a multipart upload of more parts than this. */
export const MAX_PARTS = 10_000;
/** Chunk of the part reads and of the md5 read: fewer, larger reads cost less CPU (as the SDK floor). */
const CHUNK = MIB;

export interface MultipartOptions {
  /** Bytes per part (raised for files past MAX_PARTS parts; rounded up to a MiB). */
  readonly partSize: number;
  /** Parts in flight (memory ≈ queueSize × 2 MiB of read buffers, not whole parts). */
  readonly queueSize: number;
  readonly signal?: AbortSignal;
  /** Called with the bytes sent so far: parts done plus what in-flight parts have read (monotonic). */
  readonly onProgress?: (bytes: number) => void;
}

/** Where a multipart upload goes and what it writes. */
export interface MultipartTarget {
  readonly Bucket: string;
  readonly Key: string;
  readonly Metadata: Record<string, string>;
  readonly StorageClass?: PutObjectCommandInput['StorageClass'];
  readonly ServerSideEncryption?: PutObjectCommandInput['ServerSideEncryption'];
  /** Sent on CompleteMultipartUpload: '*' = only if the key does not exist (S3 conditional writes). */
  readonly IfNoneMatch?: string;
  /** Sent on CompleteMultipartUpload: only if the current object's ETag is this one. */
  readonly IfMatch?: string;
}

/** The local file did not hold exactly the announced bytes while it was sent: upload it again later. */
export class FileChangedError extends Error {
  constructor(what: string) {
    super(`the file changed while uploading (${what}); the upload was aborted and will be retried`);
    this.name = 'FileChangedError';
  }
}

/** What an aborted upload rejects with: an Error named AbortError, as the SDK's aborted requests. */
function abortError(reason: unknown): Error {
  const err = reason instanceof Error ? new Error('Request aborted', { cause: reason }) : new Error(reason === undefined ? 'Request aborted' : String(reason));
  err.name = 'AbortError';
  return err;
}

/**
 * Aborts every incomplete multipart upload of exactly `key`. The agent never uploads one key
 * twice at once, so such an upload is either left by a killed run or a race with another writer
 * that the three-way planner resolves next pass anyway (its writer's action fails and is re-planned).
 * Best effort: a store without ListMultipartUploads (NotImplemented), a missing
 * s3:ListBucketMultipartUploads permission or a network fault must not fail the upload itself.
 * Returns how many uploads were aborted.
 */
export async function abortIncompleteUploads(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<number> {
  let aborted = 0;
  try {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), { abortSignal: signal });
      for (const u of out.Uploads ?? []) {
        if (u.Key !== key || !u.UploadId) continue; // the prefix also matches longer keys
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }), { abortSignal: signal });
        aborted++;
      }
      if (!out.IsTruncated || (!out.NextKeyMarker && !out.NextUploadIdMarker)) return aborted;
      [keyMarker, uploadIdMarker] = [out.NextKeyMarker, out.NextUploadIdMarker];
    }
  } catch {
    return aborted;
  }
}

/** `partSize`, raised so that `size` fits in MAX_PARTS parts (files past ~156 GiB at 16 MiB), rounded up to a MiB. */
export function partSizeFor(size: number, partSize: number): number {
  return Math.ceil(Math.max(partSize, Math.ceil(size / MAX_PARTS), 1) / MIB) * MIB;
}

/**
 * How far the part streams have read from byte 0 without a gap. The md5 read trails it, so it
 * reads what the page cache has just been given (one disk read per byte even for files larger
 * than memory), and it reaches the end of the file only after every part has read its range.
 */
class ReadFront {
  readonly #read: number[];
  readonly #partSize: number;
  readonly #size: number;
  #first = 0;
  #wake: (() => void) | undefined;

  constructor(size: number, partSize: number, parts: number) {
    [this.#size, this.#partSize, this.#read] = [size, partSize, new Array<number>(parts).fill(0)];
  }

  #length(part: number): number {
    return Math.min(this.#partSize, this.#size - part * this.#partSize);
  }

  get offset(): number {
    return this.#first >= this.#read.length ? this.#size : this.#first * this.#partSize + (this.#read[this.#first] ?? 0);
  }

  add(part: number, bytes: number): void {
    this.#read[part] = (this.#read[part] ?? 0) + bytes;
    while (this.#first < this.#read.length && this.#read[this.#first] === this.#length(this.#first)) this.#first++;
    this.#wake?.();
  }

  /** Resolves once `offset` ≥ `pos`; rejects with the signal's reason when it aborts. */
  async reach(pos: number, signal: AbortSignal): Promise<void> {
    while (this.offset < pos) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}

/** One upload in progress: the first failure wins, and stops every other part and the md5 read. */
interface Run {
  readonly client: S3Client;
  readonly target: MultipartTarget;
  readonly uploadId: string;
  readonly file: FileHandle;
  readonly size: number;
  readonly partSize: number;
  readonly front: ReadFront;
  readonly signal: AbortSignal;
  fail(err: unknown): void;
  sent(bytes: number): void;
}

/**
 * Bytes [start, start + length) of the file as positional reads, counted as they are read. Not
 * FileHandle.createReadStream: each of those leaves a 'close' listener (and itself) on the handle
 * until the handle closes, thousands for a big file, and destroying one closes the handle, which
 * the other parts, the md5 read and the caller still use.
 */
function rangeStream(run: Run, part: number, start: number, length: number): Readable {
  let read = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      const want = Math.min(CHUNK, length - read);
      if (want === 0) return void this.push(null);
      run.file
        .read(Buffer.allocUnsafe(want), 0, want, start + read)
        .then(({ bytesRead, buffer }) => {
          if (bytesRead === 0) throw new FileChangedError(`part ${part + 1} ended after ${read} of ${length} bytes`);
          read += bytesRead;
          run.front.add(part, bytesRead);
          run.sent(bytesRead);
          this.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
        })
        .catch((err: unknown) => {
          // The run's abort ends the request, which would otherwise wait for the missing bytes.
          // No error on the stream: nothing listens for one on a request body.
          run.fail(err);
          this.destroy();
        });
    },
  });
}

/** Uploads part `n` (0-based) streamed from its file range. */
async function sendPart(run: Run, n: number): Promise<CompletedPart> {
  const start = n * run.partSize;
  const length = Math.min(run.partSize, run.size - start);
  const body = length === 0 ? Buffer.alloc(0) : rangeStream(run, n, start, length);
  const { Bucket, Key } = run.target;
  const out = await run.client.send(new UploadPartCommand({ Bucket, Key, UploadId: run.uploadId, PartNumber: n + 1, Body: body, ContentLength: length }), { abortSignal: run.signal });
  return { PartNumber: n + 1, ETag: out.ETag };
}

/** All parts, `queueSize` at a time, in part order; settles only once every part has settled. */
async function sendParts(run: Run, count: number, queueSize: number): Promise<CompletedPart[]> {
  const parts = new Array<CompletedPart>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count && !run.signal.aborted) {
      const n = next++;
      try {
        parts[n] = await sendPart(run, n);
      } catch (err) {
        run.fail(err); // at once: the parts in flight stop, and no worker starts another
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(queueSize, count) }, worker));
  run.signal.throwIfAborted();
  return parts;
}

/** md5 of the file, read once in order behind the parts; the file must end at exactly `size`. */
async function hashBehind(run: Run): Promise<string> {
  const md5 = createHasher('md5');
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  while (pos < run.size) {
    const want = Math.min(CHUNK, run.size - pos);
    await run.front.reach(pos + want, run.signal);
    const { bytesRead } = await run.file.read(buf, 0, want, pos);
    if (bytesRead === 0) throw new FileChangedError(`it ended at ${pos} of ${run.size} bytes`);
    md5.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  // Bytes past `size` mean the file grew: the object would not be the file.
  if ((await run.file.read(buf, 0, 1, run.size)).bytesRead > 0) throw new FileChangedError(`it grew past ${run.size} bytes`);
  return md5.digest();
}

/**
 * Uploads `size` bytes of `file` in parts streamed from its byte ranges (no part is buffered),
 * after clearing the key's incomplete uploads, and md5s the file on the way with a second,
 * sequential read. Any failure or abort aborts the upload (no parts left behind) and rejects
 * with the first error: an SDK error as thrown (a 412 on completion included), or a
 * FileChangedError when the file did not hold exactly `size` bytes.
 */
export async function uploadFileMultipart(
  client: S3Client,
  target: MultipartTarget,
  file: FileHandle,
  size: number,
  opts: MultipartOptions,
): Promise<{ etag: string; md5: string }> {
  const { Bucket, Key } = target;
  await abortIncompleteUploads(client, Bucket, Key, opts.signal);
  const created = await client.send(
    new CreateMultipartUploadCommand({ Bucket, Key, Metadata: target.Metadata, StorageClass: target.StorageClass, ServerSideEncryption: target.ServerSideEncryption }),
    { abortSignal: opts.signal },
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`S3 started no multipart upload for ${Key} in bucket ${Bucket} (no UploadId in its answer)`);

  const partSize = partSizeFor(size, opts.partSize);
  const count = Math.max(1, Math.ceil(size / partSize));
  const stop = new AbortController();
  let first: { err: unknown } | undefined;
  let sent = 0;
  const run: Run = {
    client, target, uploadId, file, size, partSize,
    signal: stop.signal,
    front: new ReadFront(size, partSize, count),
    fail(err) {
      first ??= { err };
      stop.abort(err);
    },
    sent(bytes) {
      sent += bytes;
      opts.onProgress?.(sent);
    },
  };
  const onAbort = (): void => run.fail(abortError(opts.signal?.reason));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const hashing = hashBehind(run).catch((err: unknown) => (run.fail(err), ''));
    const [parts, md5] = await Promise.all([sendParts(run, count, opts.queueSize).catch((err: unknown) => (run.fail(err), [])), hashing]);
    if (first) throw first.err;
    const out = await client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: target.IfNoneMatch, IfMatch: target.IfMatch }),
      { abortSignal: stop.signal },
    );
    return { etag: (out.ETag ?? '').replace(/"/g, ''), md5 };
  } catch (err) {
    // Every part has settled here (sendParts waits for all), so no part lands after the abort.
    // Sent without a signal: the caller's may be aborted already, and is often why we are here.
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => undefined);
    throw first ? first.err : err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
