// After each timed pass (untimed): does the bucket now hold exactly the local folder's files, with
// their sizes? A fast tool that left files behind must not win a row.

import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** key → size of every object in the bucket. */
export async function listBucket(s3: S3Client, bucket: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key !== undefined) out.set(o.Key, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** '/'-separated path → size of every regular file under root. */
export async function listLocal(root: string): Promise<Map<string, number>> {
  const entries: Dirent[] = await readdir(root, { recursive: true, withFileTypes: true });
  const out = new Map<string, number>();
  for (const e of entries) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    out.set(path.relative(root, abs).split(path.sep).join('/'), (await lstat(abs)).size);
  }
  return out;
}

/** undefined when the bucket mirrors the folder; otherwise what differs, for the results. */
export async function mirrorProblem(s3: S3Client, bucket: string, root: string): Promise<string | undefined> {
  const [remote, local] = await Promise.all([listBucket(s3, bucket), listLocal(root)]);
  const missing = [...local.keys()].filter((k) => !remote.has(k));
  const extra = [...remote.keys()].filter((k) => !local.has(k));
  const wrong = [...local].filter(([k, size]) => remote.has(k) && remote.get(k) !== size).map(([k]) => k);
  if (missing.length + extra.length + wrong.length === 0) return undefined;
  const some = (xs: string[]): string => xs.slice(0, 3).join(', ') + (xs.length > 3 ? ', …' : '');
  return [
    missing.length ? `${missing.length} missing (${some(missing)})` : '',
    extra.length ? `${extra.length} extra (${some(extra)})` : '',
    wrong.length ? `${wrong.length} wrong size (${some(wrong)})` : '',
  ]
    .filter(Boolean)
    .join('; ');
}
