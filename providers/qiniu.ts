// Native Qiniu Kodo provider on the `qiniu` SDK. Tokens are Kodo hashes (qetag), so equal
// content is recognised from a listing alone. The SDK resolves HTTP errors instead of rejecting,
// so every answer's status (and an upload's key and hash) is checked here.

import { stat as fsStat } from 'node:fs/promises';
import path from 'node:path';
import qiniu from 'qiniu';
import pRetry, { AbortError } from 'p-retry';
import type { RemoteObject } from '../agent/types.js';
import {
  createAgents,
  fetchToFile,
  loadQiniuCredentials,
  requestError,
  resolveDomain,
  sdkConfig,
  statusError,
  type Agents,
  type CallContext,
  type QiniuRemote,
} from './qiniu-client.js';
import { isPlainQetag, keyFor, normalizePrefix, pathFor, urlPathFor } from './qiniu-keys.js';
import {
  formatMtime,
  isProviderError,
  parseMtime,
  ProviderError,
  type DownloadOptions,
  type ProviderFeatures,
  type RemoteProvider,
  type UploadOptions,
} from './provider.js';

export { QiniuConfigError, QiniuCredentialsError, type QiniuRemote } from './qiniu-client.js';

/** Files up to this size go as one form upload; larger ones as resumable v2. */
const FORM_MAX = 4 * 1024 * 1024;
/** Always 4 MiB parts: then Kodo's hash is the plain qetag, comparable with local files. */
const PART_SIZE = 4 * 1024 * 1024;
const LIST_LIMIT = 1000;
/** Retries of one listing page after a transient fault (503, 573, timeout, reset). */
const LIST_RETRIES = 4;
/** Management calls: connect and response timeouts in ms (the SDK's fixed default is 5 s). */
const MGMT_CONNECT_TIMEOUT_MS = 10_000;
const MGMT_RESPONSE_TIMEOUT_MS = 60_000;
const BATCH_MAX = 1000;
/** Signed download URLs stay valid this long (PRODUCT.md §2). */
const PRIVATE_URL_SECONDS = 3600;

interface StatData {
  fsize?: number;
  hash?: string;
  putTime?: number;
  'x-qn-meta'?: Record<string, string>;
  error?: string;
}

type Answer<T> = { readonly status: number; readonly data: T };

/** Upload tokens must outlive the transfer: an hour plus a second per 64 KiB. */
const tokenSeconds = (size: number): number => 3600 + Math.ceil(size / (64 * 1024));

class QiniuProvider implements RemoteProvider {
  readonly features: ProviderFeatures;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #domain: string;
  readonly #private: boolean;
  readonly #mac: qiniu.auth.digest.Mac;
  readonly #bm: qiniu.rs.BucketManager;
  readonly #form: qiniu.form_up.FormUploader;
  readonly #resume: qiniu.resume_up.ResumeUploader;
  readonly #agents: Agents = createAgents();

  constructor(cfg: QiniuRemote, mac: qiniu.auth.digest.Mac, config: qiniu.conf.Config) {
    this.#bucket = cfg.bucket;
    this.#prefix = normalizePrefix(cfg.prefix);
    this.#domain = resolveDomain(cfg.domain);
    this.#private = cfg.private ?? false;
    this.#mac = mac;
    this.#bm = new qiniu.rs.BucketManager(mac, config);
    // The SDK gives management calls (list, stat, batch) a fixed 5 s response timeout and offers
    // no public setting; a busy bucket or a slow link needs longer, so set its client's timeout.
    const http = (this.#bm as unknown as { _httpClient?: { timeout?: number | number[] } })._httpClient;
    if (http) http.timeout = [MGMT_CONNECT_TIMEOUT_MS, MGMT_RESPONSE_TIMEOUT_MS];
    this.#form = new qiniu.form_up.FormUploader(config);
    this.#resume = new qiniu.resume_up.ResumeUploader(config);
    this.features = { name: 'qiniu', hash: 'qetag', remoteId: `qiniu:${cfg.bucket}/${this.#prefix}` };
  }

  #ctx(what: string): CallContext {
    return { what, bucket: this.#bucket };
  }

  /** Awaits an SDK call and insists on one of `okStatuses`; anything else becomes a ProviderError. */
  async #call<T>(ctx: CallContext, run: () => Promise<{ data: T; resp: { statusCode?: number } }>, okStatuses: readonly number[] = [200]): Promise<Answer<T>> {
    let r: { data: T; resp: { statusCode?: number } };
    try {
      r = await run();
    } catch (e) {
      throw requestError(e, ctx);
    }
    const status = r.resp.statusCode ?? 0;
    if (!okStatuses.includes(status)) throw statusError(status, (r.data as { error?: string } | null)?.error, ctx);
    return { status, data: r.data };
  }

  #object(p: string, data: StatData): RemoteObject {
    const hash = data.hash ?? '';
    const mtimeMs = parseMtime(data['x-qn-meta']?.mtime);
    return {
      path: p,
      size: data.fsize ?? 0,
      token: hash,
      ...(isPlainQetag(hash) ? { hash } : {}),
      ...(mtimeMs !== undefined ? { mtimeMs } : {}),
      ...(typeof data.putTime === 'number' ? { uploadedMs: Math.floor(data.putTime / 1e4) } : {}),
    };
  }

  async *list(signal?: AbortSignal): AsyncIterable<readonly RemoteObject[]> {
    const ctx = this.#ctx(`list bucket "${this.#bucket}" under "${this.#prefix}"`);
    let marker = '';
    do {
      signal?.throwIfAborted();
      // With one host per service the SDK never retries, so a transient page fault is retried
      // here with backoff and jitter; a page that keeps failing still fails the whole listing.
      const { data } = await pRetry(
        async () => {
          try {
            return await this.#call(ctx, () => this.#bm.listPrefix(this.#bucket, { prefix: this.#prefix, marker, limit: LIST_LIMIT }));
          } catch (e) {
            if (isProviderError(e) && e.kind === 'transient' && !signal?.aborted) throw e;
            throw new AbortError(e as Error);
          }
        },
        { retries: LIST_RETRIES, minTimeout: 250, factor: 2, randomize: true, signal },
      );
      // A 200 without an items array is not a listing: never let it pass as an empty page.
      if (!data || !Array.isArray(data.items)) throw new ProviderError('transient', 'qiniu', `Qiniu answered a listing page without items while trying to ${ctx.what}`);
      const page: RemoteObject[] = [];
      for (const item of data.items) {
        const p = pathFor(this.#prefix, item.key);
        // A key equal to the prefix (a console "folder" object) has no sync path.
        if (p !== undefined && p !== '') page.push(this.#object(p, item));
      }
      yield page;
      marker = typeof data.marker === 'string' ? data.marker : '';
    } while (marker !== '');
  }

  async stat(p: string): Promise<RemoteObject | undefined> {
    const key = keyFor(this.#prefix, p);
    const { status, data } = await this.#call(this.#ctx(`stat "${key}"`), () => this.#bm.stat(this.#bucket, key), [200, 612]);
    return status === 612 ? undefined : this.#object(p, data);
  }

  /** The SDK cannot cancel a transfer: `opts.signal` is honoured before it starts, then it completes. */
  async upload(p: string, srcFile: string, opts: UploadOptions): Promise<RemoteObject> {
    const key = keyFor(this.#prefix, p);
    const ctx = this.#ctx(`upload "${key}"`);
    opts.signal?.throwIfAborted();
    // The size at upload time picks the method: form uploads buffer the whole file in memory.
    const size = (await fsStat(srcFile)).size;
    // Scope `bucket:key` is a plain overwrite; scope `bucket` would make form uploads insert-only.
    const token = new qiniu.rs.PutPolicy({ scope: `${this.#bucket}:${key}`, expires: tokenSeconds(size) }).uploadToken(this.#mac);
    const metadata = { 'x-qn-meta-mtime': formatMtime(opts.mtimeMs) };
    const fname = path.posix.basename(key);
    const { data } = await this.#call<{ key?: unknown; hash?: unknown; error?: string } | null>(ctx, () =>
      size <= FORM_MAX
        ? this.#form.putFile(token, key, srcFile, new qiniu.form_up.PutExtra(fname, {}, undefined, undefined, undefined, metadata))
        : this.#resume.putFileV2(
            token,
            key,
            srcFile,
            qiniu.resume_up.PutExtra.create(fname, {}, undefined, undefined, (sent) => opts.onProgress?.(sent), PART_SIZE, 'v2', metadata),
          ),
    );
    // The SDK resolves 200 with a part's body when it gives up mid-way (protocol doc §6.2).
    if (typeof data?.hash !== 'string' || data.key !== key) {
      throw new ProviderError('transient', 'qiniu', `Qiniu did not confirm the upload of "${key}" (no key and hash in the answer); it will be retried`);
    }
    opts.onProgress?.(size);
    const mtimeMs = parseMtime(metadata['x-qn-meta-mtime']);
    return {
      path: p,
      size,
      token: data.hash,
      ...(isPlainQetag(data.hash) ? { hash: data.hash } : {}),
      ...(mtimeMs !== undefined ? { mtimeMs } : {}),
      // The answer carries no putTime; the local clock is close enough for "upload time".
      uploadedMs: Date.now(),
    };
  }

  #downloadUrl(key: string): string {
    if (!this.#private) return `${this.#domain}/${urlPathFor(key)}`;
    const deadline = Math.floor(Date.now() / 1000) + PRIVATE_URL_SECONDS;
    return this.#bm.privateDownloadUrl(this.#domain, urlPathFor(key), deadline);
  }

  async download(p: string, destFile: string, opts: DownloadOptions = {}): Promise<RemoteObject> {
    const key = keyFor(this.#prefix, p);
    const ctx = this.#ctx(`download "${key}"`);
    // Stat first: the token names the version; the bytes are then checked against it.
    const before = await this.stat(p);
    if (!before) throw new ProviderError('not-found', 'qiniu', `cannot ${ctx.what}: no such object`);
    const hint = this.#private
      ? 'private downloads are signed with the secret key, and the domain must belong to this bucket'
      : 'if the bucket is private, set "private": true on the remote';
    const got = await fetchToFile(this.#downloadUrl(key), destFile, this.#agents, { ...ctx, hint }, opts);
    const hashDiffers = isPlainQetag(before.token) && got.qetag !== before.token;
    if (got.bytes !== before.size || hashDiffers) {
      throw new ProviderError('transient', 'qiniu', `"${key}" changed during the download (expected ${before.size} bytes, hash ${before.token}); it will be retried`);
    }
    return before;
  }

  async delete(p: string): Promise<void> {
    const key = keyFor(this.#prefix, p);
    await this.#call(this.#ctx(`delete "${key}"`), () => this.#bm.delete(this.#bucket, key), [200, 612]);
  }

  async deleteMany(paths: readonly string[]): Promise<ReadonlyMap<string, ProviderError>> {
    const failed = new Map<string, ProviderError>();
    const todo: { path: string; key: string }[] = [];
    for (const p of paths) {
      try {
        todo.push({ path: p, key: keyFor(this.#prefix, p) });
      } catch (e) {
        failed.set(p, e as ProviderError);
      }
    }
    for (let i = 0; i < todo.length; i += BATCH_MAX) {
      const chunk = todo.slice(i, i + BATCH_MAX);
      const ctx = this.#ctx(`delete ${chunk.length} objects`);
      let results: unknown;
      try {
        ({ data: results } = await this.#call(ctx, () => this.#bm.batch(chunk.map((t) => qiniu.rs.deleteOp(this.#bucket, t.key))), [200, 298]));
      } catch (e) {
        for (const t of chunk) failed.set(t.path, e as ProviderError);
        continue;
      }
      chunk.forEach((t, j) => {
        const r = Array.isArray(results) ? (results[j] as { code?: number; data?: { error?: string } } | undefined) : undefined;
        const code = r?.code ?? 0;
        // 612: already gone, which is what a delete wants.
        if (code !== 200 && code !== 612) failed.set(t.path, statusError(code, r?.data?.error, this.#ctx(`delete "${t.key}"`)));
      });
    }
    return failed;
  }

  async #relocate(verb: 'copy' | 'move', from: string, to: string): Promise<RemoteObject> {
    const src = keyFor(this.#prefix, from);
    const dst = keyFor(this.#prefix, to);
    const ctx = this.#ctx(`${verb} "${src}" to "${dst}"`);
    await this.#call(ctx, () => this.#bm[verb](this.#bucket, src, this.#bucket, dst, { force: true }));
    const moved = await this.stat(to);
    if (!moved) throw new ProviderError('not-found', 'qiniu', `"${dst}" vanished right after the ${verb}`);
    return moved;
  }

  copy(from: string, to: string): Promise<RemoteObject> {
    return this.#relocate('copy', from, to);
  }

  move(from: string, to: string): Promise<RemoteObject> {
    return this.#relocate('move', from, to);
  }

  async close(): Promise<void> {
    // Our own download agents; the SDK's calls use Node's global agent, whose idle sockets are unref'd.
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}

/**
 * A Qiniu Kodo remote. Throws QiniuCredentialsError when no usable credentials are found and
 * QiniuConfigError for an unusable `hosts`/`region`; the CLI maps both to exit 2.
 */
export async function createQiniuProvider(cfg: QiniuRemote, env: NodeJS.ProcessEnv = process.env): Promise<RemoteProvider> {
  const creds = await loadQiniuCredentials(cfg, env);
  const mac = new qiniu.auth.digest.Mac(creds.accessKey, creds.secretKey);
  return new QiniuProvider(cfg, mac, sdkConfig(cfg)) satisfies RemoteProvider;
}
