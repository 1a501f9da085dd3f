// Encodings the Qiniu protocol uses: URL-safe base64 (padding kept when encoding, optional when
// decoding), HMAC-SHA1 signatures, EncodedEntryURI, and the streaming digests of a stored blob.

import { createHash, createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { QetagHasher } from '../../../agent/hasher.js';

export const urlsafeB64 = (data: string | Buffer): string =>
  Buffer.from(data).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

/** Decodes URL-safe base64 with or without `=` padding; undefined when the text is not base64. */
export function decodeUrlsafeB64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

export const hmacSha1B64 = (secretKey: string, data: string | Buffer): string =>
  urlsafeB64(createHmac('sha1', secretKey).update(data).digest());

/** `bucket:key` split at the FIRST colon, as the service does; a bare bucket has key ''. */
export function decodeEntry(encoded: string): { bucket: string; key: string } | undefined {
  const raw = decodeUrlsafeB64(encoded);
  if (raw === undefined) return undefined;
  const text = raw.toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? { bucket: text, key: '' } : { bucket: text.slice(0, colon), key: text.slice(colon + 1) };
}

export const encodeEntry = (bucket: string, key: string): string => urlsafeB64(`${bucket}:${key}`);

/** Digests of a blob, fed chunk by chunk while it streams to disk. */
export class BlobDigests {
  #qetag = new QetagHasher();
  #md5 = createHash('md5');
  #crc = 0;
  #size = 0;

  update(chunk: Buffer): void {
    this.#qetag.update(chunk);
    this.#md5.update(chunk);
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
  }

  digest(): { size: number; qetag: string; md5: string; crc32: number } {
    return { size: this.#size, qetag: this.#qetag.digest(), md5: this.#md5.digest('hex'), crc32: this.#crc };
  }
}

/** Decodes the 20-byte SHA-1 body of a qetag (drops the 0x16/0x96 prefix byte). */
export const qetagBody = (qetag: string): Buffer => (decodeUrlsafeB64(qetag) ?? Buffer.alloc(21)).subarray(1);

/**
 * The hash Kodo gives a v2 multipart object: the plain qetag when every part but the last is
 * exactly 4 MiB (the last at most 4 MiB), else "etag v2" (0x9e ‖ SHA1 of the parts' qetag bodies).
 */
export function multipartHash(parts: readonly { size: number; qetag: string }[], wholeQetag: string): string {
  const block = 4 * 1024 * 1024;
  const plain = parts.every((p, i) => (i < parts.length - 1 ? p.size === block : p.size <= block));
  if (plain) return wholeQetag;
  const sha = createHash('sha1');
  for (const p of parts) sha.update(qetagBody(p.qetag));
  return urlsafeB64(Buffer.concat([Buffer.from([0x9e]), sha.digest()]));
}
