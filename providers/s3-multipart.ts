// Multipart uploads for the S3 provider, and the litter they can leave: an agent killed in the
// middle of one (SIGKILL, power loss) leaves an incomplete upload whose parts S3 keeps, and
// bills, until someone aborts it. lib-storage aborts on errors and on abort signals; a killed
// process aborts nothing, so the next upload of the same key clears what is left.

import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export interface MultipartOptions {
  /** Bytes per part. */
  readonly partSize: number;
  /** Parts in flight (memory ≈ partSize × queueSize). */
  readonly queueSize: number;
  readonly signal?: AbortSignal;
  /** Called with the bytes sent so far. */
  readonly onProgress?: (bytes: number) => void;
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

/** Uploads `params.Body` in parts after clearing the key's incomplete uploads; returns the ETag as sent by S3 (quoted). */
export async function putMultipart(client: S3Client, params: PutObjectCommandInput, opts: MultipartOptions): Promise<string | undefined> {
  if (params.Bucket === undefined || params.Key === undefined) throw new Error('putMultipart needs Bucket and Key');
  await abortIncompleteUploads(client, params.Bucket, params.Key, opts.signal);
  const controller = new AbortController();
  const upload = new Upload({ client, params, partSize: opts.partSize, queueSize: opts.queueSize, leavePartsOnError: false, abortController: controller });
  // lib-storage aborts the multipart upload (no orphan parts) on error and on abort.
  const onAbort = (): void => controller.abort();
  upload.on('httpUploadProgress', (p) => opts.onProgress?.(p.loaded ?? 0));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return (await upload.done()).ETag;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
