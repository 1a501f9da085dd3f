// The emulator's buckets: object bytes live in files under a temp dir, metadata in memory.
// Blob files are never overwritten or removed before stop(), so a download that already looked
// an object up keeps reading consistent bytes while it is replaced or deleted.

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BlobDigests } from './codec.js';

export interface StoredObject {
  readonly key: string;
  readonly fsize: number;
  /** qetag, or etag v2 (`n…`) for a multipart upload with other part sizes. */
  readonly hash: string;
  readonly md5: string;
  readonly mimeType: string;
  /** 100-ns units, like the service. */
  readonly putTime: number;
  /** `x-qn-meta-*` metadata without the prefix. */
  readonly meta: Readonly<Record<string, string>>;
  readonly file: string;
}

export interface Blob {
  readonly file: string;
  readonly size: number;
  readonly qetag: string;
  readonly md5: string;
  readonly crc32: number;
}

export interface ListPage {
  readonly items: readonly StoredObject[];
  readonly commonPrefixes: readonly string[];
  /** Key of the last entry returned when more remain. */
  readonly lastKey?: string;
}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export class ObjectStore {
  readonly #dir: string;
  readonly #buckets = new Map<string, Map<string, StoredObject>>();
  /** Sorted keys per bucket, rebuilt lazily after a change. */
  readonly #sorted = new Map<string, string[]>();
  #seq = 0;

  constructor(dir: string, buckets: readonly string[]) {
    this.#dir = dir;
    for (const b of buckets) this.#buckets.set(b, new Map());
  }

  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
  }

  hasBucket(bucket: string): boolean {
    return this.#buckets.has(bucket);
  }

  get(bucket: string, key: string): StoredObject | undefined {
    return this.#buckets.get(bucket)?.get(key);
  }

  put(bucket: string, obj: StoredObject): void {
    this.#bucket(bucket).set(obj.key, obj);
    this.#sorted.delete(bucket);
  }

  delete(bucket: string, key: string): boolean {
    const removed = this.#bucket(bucket).delete(key);
    if (removed) this.#sorted.delete(bucket);
    return removed;
  }

  count(bucket: string): number {
    return this.#bucket(bucket).size;
  }

  /** A fresh file name for a blob (never reused). */
  newFile(): string {
    this.#seq += 1;
    return path.join(this.#dir, `blob-${this.#seq}`);
  }

  /** Streams bytes into a new blob file, computing every digest the protocol needs. */
  async writeBlob(source: AsyncIterable<Buffer | Uint8Array>): Promise<Blob> {
    const file = this.newFile();
    const digests = new BlobDigests();
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer | Uint8Array>) {
        for await (const chunk of chunks) {
          const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
          digests.update(buf);
          yield buf;
        }
      },
      createWriteStream(file),
    );
    const d = digests.digest();
    return { file, size: d.size, qetag: d.qetag, md5: d.md5, crc32: d.crc32 };
  }

  /** One listing page: keys with `prefix` strictly after `afterKey`, in UTF-8 byte order. */
  list(bucket: string, prefix: string, afterKey: string, limit: number, delimiter: string): ListPage {
    const keys = this.#sortedKeys(bucket);
    const items: StoredObject[] = [];
    const commonPrefixes: string[] = [];
    let last: string | undefined;
    let i = afterKey === '' ? 0 : upperBound(keys, afterKey);
    for (; i < keys.length && items.length + commonPrefixes.length < limit; i++) {
      const key = keys[i] as string;
      if (!key.startsWith(prefix)) {
        if (byUtf8(key, prefix) > 0) break;
        continue;
      }
      const cut = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
      if (cut >= 0) {
        const common = key.slice(0, cut + delimiter.length);
        if (commonPrefixes.at(-1) !== common) commonPrefixes.push(common);
      } else {
        items.push(this.get(bucket, key) as StoredObject);
      }
      last = key;
    }
    const more = i < keys.length && (keys[i] as string).startsWith(prefix);
    return { items, commonPrefixes, ...(more && last !== undefined ? { lastKey: last } : {}) };
  }

  #bucket(bucket: string): Map<string, StoredObject> {
    const b = this.#buckets.get(bucket);
    if (!b) throw new Error(`no such bucket ${bucket}`);
    return b;
  }

  #sortedKeys(bucket: string): string[] {
    let keys = this.#sorted.get(bucket);
    if (!keys) {
      keys = [...this.#bucket(bucket).keys()].sort(byUtf8);
      this.#sorted.set(bucket, keys);
    }
    return keys;
  }
}

/** Index of the first key greater than `key` in UTF-8 byte order. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byUtf8(keys[mid] as string, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
