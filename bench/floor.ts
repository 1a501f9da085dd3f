// The floor every tool is measured against: the least work a one-way sync can do. List the
// bucket (ListObjectsV2 pages) while walking the folder (readdir + lstat), compare by size only,
// PUT what differs at the given concurrency (multipart past the part size), batch-delete the rest.
// `--client sdk` is the plain AWS SDK (the SDK floor); `--client raw` is node:http with SigV4
// (the server's own limit). Run as its own process, like every tool, so startup counts too:
//   node --import tsx bench/floor.ts --client sdk --endpoint URL --bucket B --local DIR
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Prints one JSON line of counts.

import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { forEachLimit } from './corpus.js';
import { SdkFloorClient, type FloorClient, type FloorClientOptions, type RemoteListing } from './floor-client.js';
import { RawS3Client } from './raw-s3.js';

const MIB = 1024 * 1024;

export interface FloorOptions {
  readonly client: 'sdk' | 'raw';
  readonly endpoint: string;
  readonly bucket: string;
  readonly local: string;
  /** Files in flight. @default 16 */
  readonly concurrency?: number;
  /** Multipart part size; files at least this big go multipart. @default 16 MiB (the agent's) */
  readonly partSize?: number;
  /** Parts in flight per multipart upload. @default 4 (the agent's) */
  readonly queueSize?: number;
  /**
   * Experiments, not floors: `headFirst` sends a HeadObject before each upload (the agent's
   * just-in-time check); `libStorage` uploads big files with lib-storage's Upload (the agent's way,
   * SDK client only). @default false
   */
  readonly headFirst?: boolean;
  readonly libStorage?: boolean;
  /** List each top-level prefix in parallel instead of one paged listing. @default false */
  readonly parallelList?: boolean;
}

/** One paged listing, or (parallelList) one per top-level prefix, all at once. */
async function listAll(client: FloorClient, bucket: string, parallel: boolean): Promise<RemoteListing> {
  if (!parallel) return client.list(bucket);
  const top = await client.topLevel(bucket);
  const parts = await Promise.all(top.prefixes.map((p) => client.list(bucket, p)));
  return new Map([...top.objects, ...parts.flatMap((m) => [...m])]);
}

export interface FloorReport {
  readonly listed: number;
  readonly walked: number;
  readonly uploaded: number;
  readonly deleted: number;
  readonly bytes: number;
}

type LocalStat = { readonly key: string; readonly abs: string; readonly size: number; readonly mtime: string };

/** rclone's mtime format (seconds.nanoseconds), exact: from the nanosecond stat, never a double. */
const mtimeOf = (ns: bigint): string => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;

/** Every regular file under root with its size and mtime: one recursive readdir, then lstat. */
async function walk(root: string, width: number): Promise<LocalStat[]> {
  const entries: Dirent[] = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile());
  const out: LocalStat[] = [];
  await forEachLimit(files, width, async (e) => {
    const abs = path.join(e.parentPath, e.name);
    const st = await lstat(abs, { bigint: true });
    out.push({ key: path.relative(root, abs).split(path.sep).join('/'), abs, size: Number(st.size), mtime: mtimeOf(st.mtimeNs) });
  });
  return out;
}

export async function floorSync(o: FloorOptions, creds: Pick<FloorClientOptions, 'accessKeyId' | 'secretAccessKey' | 'region'>): Promise<FloorReport> {
  const concurrency = o.concurrency ?? 16;
  const partSize = o.partSize ?? 16 * MIB;
  const queueSize = o.queueSize ?? 4;
  const opts: FloorClientOptions = { endpoint: o.endpoint, concurrency, ...creds };
  const client: FloorClient = o.client === 'raw' ? new RawS3Client(opts) : new SdkFloorClient(opts);
  try {
    const [remote, local] = await Promise.all([listAll(client, o.bucket, o.parallelList ?? false), walk(o.local, 16)]);
    const present = new Set(local.map((f) => f.key));
    const uploads = local.filter((f) => remote.get(f.key) !== f.size);
    const deletes = [...remote.keys()].filter((k) => !present.has(k));
    await forEachLimit(uploads, concurrency, async (f) => {
      if (o.headFirst) await client.head(o.bucket, f.key);
      if (f.size < partSize) await client.put(o.bucket, f.key, f.abs, f.mtime);
      else if (o.libStorage && client instanceof SdkFloorClient) await client.putWithLibStorage(o.bucket, f.key, f.abs, f.mtime, partSize, queueSize);
      else await client.putMultipart(o.bucket, f.key, f.abs, f.size, f.mtime, partSize, queueSize);
    });
    if (deletes.length > 0) await client.deleteMany(o.bucket, deletes);
    return { listed: remote.size, walked: local.length, uploaded: uploads.length, deleted: deletes.length, bytes: uploads.reduce((n, f) => n + f.size, 0) };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      client: { type: 'string', default: 'sdk' },
      endpoint: { type: 'string' },
      bucket: { type: 'string' },
      local: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      'part-size-mib': { type: 'string', default: '16' },
      queue: { type: 'string', default: '4' },
      'head-first': { type: 'boolean', default: false },
      'lib-storage': { type: 'boolean', default: false },
      'parallel-list': { type: 'boolean', default: false },
    },
  });
  const { endpoint, bucket, local } = values;
  if ((values.client !== 'sdk' && values.client !== 'raw') || !endpoint || !bucket || !local) {
    process.stderr.write('usage: bench/floor.ts --client sdk|raw --endpoint URL --bucket NAME --local DIR [--concurrency 16] [--part-size-mib 16] [--queue 4] [--head-first] [--lib-storage] [--parallel-list]\n');
    process.exit(2);
  }
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    process.stderr.write('bench/floor.ts: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n');
    process.exit(2);
  }
  const report = await floorSync(
    {
      client: values.client,
      endpoint,
      bucket,
      local: path.resolve(local),
      concurrency: Number(values.concurrency),
      partSize: Number(values['part-size-mib']) * MIB,
      queueSize: Number(values.queue),
      headFirst: values['head-first'],
      libStorage: values['lib-storage'],
      parallelList: values['parallel-list'],
    },
    { accessKeyId, secretAccessKey, region: process.env.AWS_REGION ?? 'us-east-1' },
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
