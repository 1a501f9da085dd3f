// What the floor needs from S3, and the plain-SDK version of it: the same S3Client setup as the
// agent (keep-alive sockets, checksums only where required), used as directly as possible.

import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** key → size. */
export type RemoteListing = Map<string, number>;

export interface FloorClientOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Keep-alive sockets (= transfers in flight). */
  readonly concurrency: number;
}

export interface FloorClient {
  /** Every object (under `prefix`), page after page. */
  list(bucket: string, prefix?: string): Promise<RemoteListing>;
  /**
   * One delimiter listing: the top-level "folders" (to list them in parallel) and the objects at
   * the top. Experiments only: a truncated answer (over 1,000 entries) is an error.
   */
  topLevel(bucket: string): Promise<{ prefixes: string[]; objects: RemoteListing }>;
  /** One PutObject of the whole file, with the mtime in `x-amz-meta-mtime` (rclone's format). */
  put(bucket: string, key: string, file: string, mtime: string): Promise<void>;
  /** Create, `queueSize` UploadParts of `partSize` bytes in flight, complete. */
  putMultipart(bucket: string, key: string, file: string, size: number, mtime: string, partSize: number, queueSize: number): Promise<void>;
  deleteMany(bucket: string, keys: readonly string[]): Promise<void>;
  /** HeadObject; used only by `--head-first`, which models a just-in-time check per upload. */
  head(bucket: string, key: string): Promise<void>;
  close(): Promise<void>;
}

export class SdkFloorClient implements FloorClient {
  readonly #s3: S3Client;

  constructor(opts: FloorClientOptions) {
    this.#s3 = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: true,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      // As the agent: aws-chunked checksum bodies would be stored as the object by s3rver.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: opts.concurrency }) }),
    });
  }

  async list(bucket: string, prefix?: string): Promise<RemoteListing> {
    const out: RemoteListing = new Map();
    let token: string | undefined;
    do {
      const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key !== undefined) out.set(o.Key, o.Size ?? 0);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async topLevel(bucket: string): Promise<{ prefixes: string[]; objects: RemoteListing }> {
    const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    if (page.IsTruncated) throw new Error('topLevel: more than one page of top-level entries');
    const objects: RemoteListing = new Map();
    for (const o of page.Contents ?? []) if (o.Key !== undefined) objects.set(o.Key, o.Size ?? 0);
    return { prefixes: (page.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix])), objects };
  }

  async put(bucket: string, key: string, file: string, mtime: string): Promise<void> {
    const body = await readFile(file);
    await this.#s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, Metadata: { mtime } }));
  }

  async putMultipart(bucket: string, key: string, file: string, size: number, mtime: string, partSize: number, queueSize: number): Promise<void> {
    const created = await this.#s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { mtime } }));
    const uploadId = created.UploadId;
    const count = Math.ceil(size / partSize);
    const parts: { PartNumber: number; ETag: string }[] = new Array<{ PartNumber: number; ETag: string }>(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const n = next++;
        const start = n * partSize;
        const end = Math.min(size, start + partSize);
        const body = createReadStream(file, { start, end: end - 1, highWaterMark: 1024 * 1024 });
        const out = await this.#s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n + 1, Body: body, ContentLength: end - start }));
        parts[n] = { PartNumber: n + 1, ETag: out.ETag ?? '' };
      }
    };
    await Promise.all(Array.from({ length: Math.min(queueSize, count) }, worker));
    await this.#s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  }

  async deleteMany(bucket: string, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      await this.#s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
    }
  }

  async head(bucket: string, key: string): Promise<void> {
    try {
      await this.#s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (e) {
      if ((e as { name?: string }).name !== 'NotFound') throw e;
    }
  }

  /** lib-storage's Upload (what the agent uses), to compare with the plain part loop. */
  async putWithLibStorage(bucket: string, key: string, file: string, mtime: string, partSize: number, queueSize: number): Promise<void> {
    const upload = new Upload({ client: this.#s3, params: { Bucket: bucket, Key: key, Body: createReadStream(file), Metadata: { mtime } }, partSize, queueSize });
    await upload.done();
  }

  async close(): Promise<void> {
    this.#s3.destroy();
  }
}
