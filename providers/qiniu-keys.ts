// Mapping between sync paths and Qiniu keys: the prefix rule of PRODUCT.md §2, the service's
// key limits, and the percent-encoding of a key in a download URL.

import { ProviderError } from './provider.js';

/** Kodo refuses keys longer than this many UTF-8 bytes. */
export const MAX_KEY_BYTES = 750;

/** `backups`, `backups/` and `/backups/` all name the folder `backups/`; none means the bucket root. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** The key of a sync path under `prefix`; throws ProviderError 'invalid-key' when Kodo cannot store it. */
export function keyFor(prefix: string, syncPath: string): string {
  if (syncPath === '') throw new ProviderError('invalid-key', 'qiniu', 'an empty path has no Qiniu key');
  const key = prefix + syncPath;
  if (key.includes('\0')) {
    throw new ProviderError('invalid-key', 'qiniu', `Qiniu keys cannot contain a NUL byte: ${JSON.stringify(syncPath)}`);
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new ProviderError(
      'invalid-key',
      'qiniu',
      `the Qiniu key for "${syncPath.slice(0, 60)}…" is ${bytes} bytes (prefix included); Kodo allows at most ${MAX_KEY_BYTES}: shorten the path or the prefix`,
    );
  }
  return key;
}

/** The sync path of a listed key, or undefined when the key is outside the prefix. */
export function pathFor(prefix: string, key: string): string | undefined {
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
}

/**
 * A key as a URL path: each `/`-separated segment percent-encoded. The SDK's own encoding
 * (encodeurl) leaves `? # + & =` raw and decodes `%20`, so it cannot be used for arbitrary keys.
 */
export const urlPathFor = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/**
 * True when a Kodo hash is a plain qetag a local file can be compared with: prefix byte 0x16
 * ('F…', one block) or 0x96 ('l…', several). Etag v2 ('n…', multipart with other part sizes)
 * cannot be recomputed from the bytes alone.
 */
export const isPlainQetag = (hash: string): boolean => /^[Fl][A-Za-z0-9_-]{27}$/.test(hash);
