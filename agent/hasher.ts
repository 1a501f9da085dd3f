// Streaming content hashes of local files, in the algorithm the pair's provider compares with.
// md5 matches a single-part S3 ETag; qetag is Qiniu's `hash` (SHA-1 over 4 MiB blocks).

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { HashAlgo } from './types.js';

export const QETAG_BLOCK = 4 * 1024 * 1024;

/** Incremental qetag: feed bytes in any chunking, then `digest()`. */
export class QetagHasher {
  #blockHashes: Buffer[] = [];
  #block: Hash = createHash('sha1');
  #inBlock = 0;

  update(chunk: Uint8Array): this {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(QETAG_BLOCK - this.#inBlock, chunk.length - offset);
      this.#block.update(chunk.subarray(offset, offset + take));
      this.#inBlock += take;
      offset += take;
      if (this.#inBlock === QETAG_BLOCK) {
        this.#blockHashes.push(this.#block.digest());
        this.#block = createHash('sha1');
        this.#inBlock = 0;
      }
    }
    return this;
  }

  digest(): string {
    // An empty input counts as one empty block; a trailing partial block is a block.
    if (this.#inBlock > 0 || this.#blockHashes.length === 0) this.#blockHashes.push(this.#block.digest());
    const [only] = this.#blockHashes;
    const body =
      this.#blockHashes.length === 1 && only
        ? Buffer.concat([Buffer.from([0x16]), only])
        : Buffer.concat([Buffer.from([0x96]), createHash('sha1').update(Buffer.concat(this.#blockHashes)).digest()]);
    return body.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  }
}

export interface StreamingHasher {
  update(chunk: Uint8Array): unknown;
  digest(): string;
}

export function createHasher(algo: HashAlgo): StreamingHasher {
  if (algo === 'qetag') return new QetagHasher();
  const md5 = createHash('md5');
  return { update: (c) => md5.update(c), digest: () => md5.digest('hex') };
}

/** Hashes a whole file by streaming it (memory stays flat). */
export async function hashFile(file: string, algo: HashAlgo, signal?: AbortSignal): Promise<string> {
  const hasher = createHasher(algo);
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal })) {
    hasher.update(chunk as Buffer);
  }
  return hasher.digest();
}

export function hashBuffer(data: Uint8Array, algo: HashAlgo): string {
  const hasher = createHasher(algo);
  hasher.update(data);
  return hasher.digest();
}
