// A plain folder as the remote (NAS, USB disk). Writes go through a temp file in the target
// folder and a rename, so a reader never sees a partial file; the file's mtime is kept.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type BigIntStats } from 'node:fs';
import { copyFile, lstat, mkdir, opendir, rename, rm, rmdir, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hashFile } from '../agent/hasher.js';
import type { RemoteObject } from '../agent/types.js';
import { ProviderError, type DownloadOptions, type ProviderErrorKind, type ProviderFeatures, type RemoteProvider, type UploadOptions } from './provider.js';

/** Prefix of this provider's temp files; listings skip them. */
export const FS_TMP_PREFIX = '.sync-agent-tmp-';

export interface FsProviderOptions {
  /** The folder used as the remote; made absolute against the working directory. */
  readonly root: string;
  /** Objects per listing page. @default 1000 */
  readonly pageSize?: number;
}

const PROVIDER = 'fs';

/** errno → error kind; anything unknown is 'other'. */
const KINDS: Readonly<Record<string, ProviderErrorKind>> = {
  ENOENT: 'not-found',
  ENOTDIR: 'not-found',
  EACCES: 'denied',
  EPERM: 'denied',
  EROFS: 'denied',
  ENAMETOOLONG: 'invalid-key',
  EIO: 'transient',
  EAGAIN: 'transient',
  EBUSY: 'transient',
  ETIMEDOUT: 'transient',
  ESTALE: 'transient',
  EMFILE: 'transient',
  ENFILE: 'transient',
};

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

function fail(err: unknown, doing: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = errno(err) ?? 'unknown';
  const kind = KINDS[code] ?? 'other';
  const hint =
    kind === 'denied' ? ': check the folder permissions'
    : code === 'ENOSPC' ? ': the remote disk is full'
    : kind === 'transient' ? ': the disk or network share is busy or unreachable, will retry'
    : '';
  return new ProviderError(kind, PROVIDER, `${doing} failed (${code})${hint}`, { cause: err });
}

function toObject(rel: string, st: BigIntStats): RemoteObject {
  return {
    path: rel,
    size: Number(st.size),
    // A stat signature: changes when the file is rewritten (new inode or size or mtime).
    token: `${st.size}-${st.mtimeNs}-${st.ino}`,
    mtimeMs: Number(st.mtimeNs) / 1e6,
  };
}

/** Counts bytes flowing through, for `onProgress`. */
function progress(onProgress?: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      onProgress?.(bytes);
      done(null, chunk);
    },
  });
}

export class FsProvider implements RemoteProvider {
  readonly features: ProviderFeatures;
  readonly #root: string;
  readonly #pageSize: number;

  constructor(opts: FsProviderOptions) {
    this.#root = path.resolve(opts.root);
    this.#pageSize = opts.pageSize ?? 1000;
    this.features = { name: PROVIDER, hash: 'md5', remoteId: `fs:${this.#root}` };
  }

  /** The absolute file of a remote path; refuses anything that could leave the root. */
  #abs(rel: string): string {
    const segments = rel.split('/');
    if (rel === '' || segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) {
      throw new ProviderError('invalid-key', PROVIDER, `"${rel}" is not a safe path inside ${this.#root} (empty, ".", ".." segments or a leading "/")`);
    }
    return path.join(this.#root, ...segments);
  }

  async *list(signal?: AbortSignal): AsyncIterable<readonly RemoteObject[]> {
    // A missing root is an unmounted disk, never an empty remote.
    const rootStat = await lstat(this.#root).catch((err: unknown) => {
      throw new ProviderError('not-found', PROVIDER, `remote folder ${this.#root} is missing (${errno(err) ?? 'error'}): is the disk mounted?`, { cause: err });
    });
    if (!rootStat.isDirectory()) throw new ProviderError('other', PROVIDER, `remote ${this.#root} is not a folder`);
    let page: RemoteObject[] = [];
    for await (const obj of this.#walk(this.#root, '', signal)) {
      page.push(obj);
      if (page.length >= this.#pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  async *#walk(dir: string, rel: string, signal?: AbortSignal): AsyncGenerator<RemoteObject> {
    signal?.throwIfAborted();
    // Any unreadable folder throws: a partial listing must never look complete.
    const handle = await opendir(dir).catch((err: unknown) => {
      throw fail(err, `reading remote folder ${dir}`);
    });
    const subdirs: string[] = [];
    try {
      for await (const entry of handle) {
        const childRel = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) subdirs.push(entry.name);
        // Symlinks and special files are not objects; following links could leave the root.
        if (!entry.isFile() || entry.name.startsWith(FS_TMP_PREFIX)) continue;
        const st = await lstat(path.join(dir, entry.name), { bigint: true }).catch((err: unknown) => {
          if (errno(err) === 'ENOENT') return undefined; // deleted since readdir: it is gone
          throw fail(err, `reading ${path.join(dir, entry.name)}`);
        });
        if (st?.isFile()) yield toObject(childRel, st);
      }
    } catch (err) {
      throw fail(err, `reading remote folder ${dir}`);
    }
    for (const name of subdirs) yield* this.#walk(path.join(dir, name), rel ? `${rel}/${name}` : name, signal);
  }

  async stat(rel: string): Promise<RemoteObject | undefined> {
    const file = this.#abs(rel);
    try {
      const st = await lstat(file, { bigint: true });
      return st.isFile() ? toObject(rel, st) : undefined;
    } catch (err) {
      if (KINDS[errno(err) ?? ''] === 'not-found') return undefined;
      throw fail(err, `stat of ${file}`);
    }
  }

  async download(rel: string, destFile: string, opts: DownloadOptions = {}): Promise<RemoteObject> {
    const file = this.#abs(rel);
    const before = await this.stat(rel);
    if (!before) throw new ProviderError('not-found', PROVIDER, `${file} no longer exists on the remote`);
    try {
      await pipeline(createReadStream(file), progress(opts.onProgress), createWriteStream(destFile), { signal: opts.signal });
    } catch (err) {
      throw fail(err, `copying ${file} to ${destFile}`);
    }
    const after = await this.stat(rel);
    if (after?.token !== before.token) {
      throw new ProviderError('transient', PROVIDER, `${file} changed while it was being read; will retry`);
    }
    return before;
  }

  async upload(rel: string, srcFile: string, opts: UploadOptions): Promise<RemoteObject> {
    const file = this.#abs(rel);
    const tmp = await this.#tempFor(file);
    try {
      await pipeline(createReadStream(srcFile), progress(opts.onProgress), createWriteStream(tmp), { signal: opts.signal });
      await utimes(tmp, new Date(), opts.mtimeMs / 1000);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fail(err, `writing ${file}`);
    }
    return this.#statWritten(rel);
  }

  async delete(rel: string): Promise<void> {
    const file = this.#abs(rel);
    try {
      await unlink(file);
    } catch (err) {
      if (KINDS[errno(err) ?? ''] !== 'not-found') throw fail(err, `deleting ${file}`);
    }
    await this.#pruneEmptyParents(file);
  }

  async copy(from: string, to: string): Promise<RemoteObject> {
    const src = this.#abs(from);
    const file = this.#abs(to);
    const before = await this.stat(from);
    if (!before) throw new ProviderError('not-found', PROVIDER, `${src} no longer exists on the remote`);
    const tmp = await this.#tempFor(file);
    try {
      await copyFile(src, tmp);
      if (before.mtimeMs !== undefined) await utimes(tmp, new Date(), before.mtimeMs / 1000);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fail(err, `copying ${src} to ${file}`);
    }
    return this.#statWritten(to);
  }

  async move(from: string, to: string): Promise<RemoteObject> {
    const src = this.#abs(from);
    const file = this.#abs(to);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await rename(src, file);
    } catch (err) {
      throw fail(err, `moving ${src} to ${file}`);
    }
    await this.#pruneEmptyParents(src);
    return this.#statWritten(to);
  }

  async contentHash(rel: string): Promise<string> {
    const file = this.#abs(rel);
    try {
      return await hashFile(file, 'md5');
    } catch (err) {
      throw fail(err, `hashing ${file}`);
    }
  }

  async createRoot(): Promise<void> {
    try {
      await mkdir(this.#root, { recursive: true });
    } catch (err) {
      throw fail(err, `creating the remote folder ${this.#root}`);
    }
  }

  /** A fresh temp name next to `file` (same folder, so the rename is atomic); creates the folder. */
  async #tempFor(file: string): Promise<string> {
    try {
      await mkdir(path.dirname(file), { recursive: true });
    } catch (err) {
      throw fail(err, `creating folder ${path.dirname(file)} (is a file in the way?)`);
    }
    return path.join(path.dirname(file), `${FS_TMP_PREFIX}${randomBytes(6).toString('hex')}`);
  }

  async #statWritten(rel: string): Promise<RemoteObject> {
    const obj = await this.stat(rel);
    if (!obj) throw new ProviderError('transient', PROVIDER, `${this.#abs(rel)} vanished right after it was written; will retry`);
    return obj;
  }

  /** Removes folders left empty, up to (not including) the root; stops at the first non-empty one. */
  async #pruneEmptyParents(file: string): Promise<void> {
    for (let dir = path.dirname(file); dir.startsWith(this.#root + path.sep); dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch (err) {
        if (errno(err) !== 'ENOENT') return; // not empty, or not ours to remove: leave it
      }
    }
  }
}

export function createFsProvider(opts: FsProviderOptions): RemoteProvider {
  return new FsProvider(opts);
}

// Compile-time check (rclone's interface-check block): every capability but deleteMany and
// the conditional writes and deletes (a local stat is as cheap as the check they would replace) is here.
const _fsCapabilities = {} as FsProvider satisfies Required<Omit<RemoteProvider, 'deleteMany' | 'close' | 'conditionalWrites' | 'conditionalDeletes'>>;
