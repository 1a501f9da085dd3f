// The one interface every remote implements. Small on purpose (rclone's Fs): required methods
// plus optional capabilities found by presence (`if (p.move) … else copy + delete`).

import type { HashAlgo, RemoteObject } from '../agent/types.js';

export interface ProviderFeatures {
  /** Short name for logs: 'fs' | 's3' | 'qiniu'. */
  readonly name: string;
  /**
   * The content hash local files are hashed with for this remote, so that equal content is
   * recognised without a transfer when `RemoteObject.hash` is set.
   */
  readonly hash: HashAlgo;
  /** Identifies root/bucket/prefix, stored in the manifest so a manifest for another remote is refused. */
  readonly remoteId: string;
}

/**
 * What the remote must still hold for a write to go ahead (S3 conditional writes): nothing at the
 * key (`If-None-Match: *`), or exactly the version the caller listed (`If-Match: <token>`).
 */
export type WritePrecondition = { readonly kind: 'absent' } | { readonly kind: 'token'; readonly token: string };

export interface UploadOptions {
  /** The file's mtime, kept in object metadata (`mtime`, Unix seconds with a fraction). */
  readonly mtimeMs: number;
  readonly size: number;
  readonly signal?: AbortSignal;
  /** Called with the bytes sent so far (for progress bars). */
  readonly onProgress?: (bytesSoFar: number) => void;
  /**
   * Sent with the write when `conditionalWrites()` said the store enforces it: the write then
   * fails with ProviderError kind 'precondition' if the remote moved. Ignored otherwise.
   */
  readonly precondition?: WritePrecondition;
}

export interface DeleteManyOptions {
  /** Path → the version token (ETag) the delete must still find. */
  readonly tokens?: ReadonlyMap<string, string>;
}

/** What an upload wrote. */
export interface UploadedObject extends RemoteObject {
  /**
   * The content hash (features.hash) of the bytes sent, computed while sending, when the token is
   * not itself one (an S3 multipart ETag): saves reading the file again to hash it.
   */
  readonly sentHash?: string;
}

export interface DownloadOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytesSoFar: number) => void;
}

export interface RemoteProvider {
  readonly features: ProviderFeatures;

  /**
   * Every object under the prefix, page by page, with the prefix stripped from `path`. Keys are
   * returned raw (even unsafe ones and `dir/` markers): the agent decides what to skip.
   * Throws a ProviderError if any page fails; a partial listing must never look complete.
   */
  list(signal?: AbortSignal): AsyncIterable<readonly RemoteObject[]>;

  /** The object at `path`, with its metadata mtime; `undefined` when it does not exist. */
  stat(path: string): Promise<RemoteObject | undefined>;

  /**
   * Streams the object into `destFile` (created or truncated; the caller picked a temp name and
   * renames it). Returns the version actually downloaded: its token, size and metadata mtime.
   * Throws ProviderError kind 'not-found' if it is gone.
   */
  download(path: string, destFile: string, opts?: DownloadOptions): Promise<RemoteObject>;

  /** Streams `srcFile` to `path` (multipart when large). Returns the version it wrote. */
  upload(path: string, srcFile: string, opts: UploadOptions): Promise<UploadedObject>;

  /**
   * Whether `upload` enforces `UploadOptions.precondition` on the server, atomically with the
   * write. When it does, the caller sends the precondition instead of a stat before each upload
   * (one request instead of two, and no gap between the check and the write). Found out once
   * per provider and cached. Absent or false: the caller re-checks with `stat` first.
   */
  conditionalWrites?(): Promise<boolean>;

  /** Deletes `path`; deleting a missing object succeeds. */
  delete(path: string): Promise<void>;

  /**
   * Deletes many; returns the paths that failed with their error (a missing object is not a
   * failure). Optional (batched APIs). With `opts.tokens`, on a store whose `conditionalDeletes()`
   * is true, each path is deleted only while it still holds that version, atomically on the
   * server; one that changed fails with kind 'precondition'. Ignored otherwise.
   */
  deleteMany?(paths: readonly string[], opts?: DeleteManyOptions): Promise<ReadonlyMap<string, ProviderError>>;

  /**
   * Whether `deleteMany` enforces `tokens` on the server (S3 conditional deletes: an ETag per key
   * in DeleteObjects). When it does, a delete needs no stat first (one request per 1,000 deletes
   * instead of two per delete, and no gap between the check and the delete). Found out once and
   * cached. Absent or false: the caller re-checks with `stat` and deletes one by one.
   */
  conditionalDeletes?(): Promise<boolean>;

  /** Server-side copy. Returns the new object. */
  copy?(from: string, to: string): Promise<RemoteObject>;

  /** Server-side move (copy + delete where the API has no move). Returns the moved object. */
  move?(from: string, to: string): Promise<RemoteObject>;

  /** Content hash (features.hash) of a remote object computed without a download, if cheap. */
  contentHash?(path: string): Promise<string>;

  /**
   * Creates the remote root if it is missing (fs: the folder). Called only on a first run (an
   * empty manifest), so an unmounted disk is never mistaken for an empty remote later.
   */
  createRoot?(): Promise<void>;

  /** Releases sockets and handles. */
  close?(): Promise<void>;
}

export const PROVIDER_ERROR_KINDS = [
  /** The object does not exist. */
  'not-found',
  /** Credentials missing or wrong (401, SignatureDoesNotMatch): retrying will not help. */
  'auth',
  /** Forbidden (403), bucket missing: retrying will not help. */
  'denied',
  /** Network fault, timeout, 5xx, throttling: worth retrying with backoff. */
  'transient',
  /** The key cannot be stored by this provider (too long, forbidden characters). */
  'invalid-key',
  /** A conditional write found the remote changed since the caller looked (412): re-plan, never retry. */
  'precondition',
  /** Anything else. */
  'other',
] as const;
export type ProviderErrorKind = (typeof PROVIDER_ERROR_KINDS)[number];

/** Errors as typed values with a message a user can act on. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly kind: ProviderErrorKind;
  readonly provider: string;
  constructor(kind: ProviderErrorKind, provider: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.provider = provider;
  }
}

export const isProviderError = (e: unknown): e is ProviderError => e instanceof ProviderError;

/** rclone's mtime metadata format: Unix seconds with a fraction, e.g. "1700000000.123456789". */
export function formatMtime(mtimeMs: number): string {
  return (mtimeMs / 1000).toFixed(9).replace(/\.?0+$/, '');
}

/** Parses the `mtime` metadata value (rclone format); undefined when absent or malformed. */
export function parseMtime(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const ms = Number(value.trim()) * 1000;
  return Number.isFinite(ms) ? ms : undefined;
}
