// What both watcher back ends share: which paths never become hints (the stateDir, the agent's
// temp files, the user's ignore rules), how an absolute path becomes a `{ path, removed }` hint,
// and the one-lstat-in-flight look that tells a change from a removal.
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { isAgentTempKey, type WatchEvent } from './aggregator.js';

/** An error from the watcher; `code` (ENOSPC, EMFILE, EACCES, …) is kept as Node set it. */
export type WatcherError = Error & { code?: string };

export interface WatcherOptions {
  /** The pair's local root; relative paths resolve against the working directory. */
  readonly root: string;
  /** The pair's ignore matcher, asked with root-relative sync keys. */
  readonly ignore: { ignores(path: string, isDir?: boolean): boolean };
  /** Receives each hint; the key is '/'-separated, relative to the root, NFC. */
  readonly onEvent: (ev: WatchEvent) => void;
  /**
   * Receives watcher errors. ENOSPC / EMFILE mean the OS ran out of watches: real-time updates
   * are incomplete and only the periodic pass will catch some changes.
   */
  readonly onError: (err: WatcherError) => void;
  /**
   * Follow symbolic links into the folders they point at.
   * @default false
   */
  readonly followSymlinks?: boolean;
  /**
   * Absolute path of the agent's stateDir: never descended, even when it lies inside the root.
   * @default undefined (the stateDir is outside the root)
   */
  readonly stateDir?: string;
  /**
   * How folders are watched: `folders` holds one node:fs watch per folder and walks the tree
   * itself, a few folders at a time; `chokidar` lets chokidar walk and watch. Both watch folders
   * only and report the same hints.
   * @default 'folders' on Linux, 'chokidar' elsewhere (fs.watch reports differently on macOS and
   * Windows, and only Linux is measured and tested here)
   */
  readonly backend?: 'folders' | 'chokidar';
}

export interface Watcher {
  /** Stops watching; no event or error is delivered after the returned promise settles. */
  close(): Promise<void>;
}

/** A path a watcher reports -> sync key; undefined for the root itself or anything outside it. */
export function toSyncKey(root: string, p: string): string | undefined {
  const rel = path.relative(root, path.resolve(root, p));
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    return undefined;
  }
  return rel.split(path.sep).join('/').normalize('NFC');
}

/** What a look found: the entry's lstat, or the error that says it is not there (or unreadable). */
export type Looked = { readonly st: Stats } | { readonly st?: undefined; readonly error: unknown };

export class WatchScope {
  readonly root: string;
  readonly #stateDir: string | undefined;
  readonly #opts: WatcherOptions;
  readonly #looking = new Map<string, { again: boolean }>();
  #closed = false;

  constructor(opts: WatcherOptions) {
    this.#opts = opts;
    this.root = path.resolve(opts.root);
    this.#stateDir = opts.stateDir === undefined ? undefined : path.resolve(opts.stateDir);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** No hint, no look and no error is delivered after this. */
  close(): void {
    this.#closed = true;
  }

  /** The stateDir, the agent's temp files and the user's ignore rules; never the root. */
  skipped(abs: string, isDir: boolean | undefined): boolean {
    const stateDir = this.#stateDir;
    if (stateDir !== undefined && (abs === stateDir || abs.startsWith(stateDir + path.sep))) return true;
    const key = toSyncKey(this.root, abs);
    if (key === undefined) return false; // the root itself
    if (isAgentTempKey(key)) return true;
    try {
      return this.#opts.ignore.ignores(key, isDir);
    } catch {
      return false; // a matcher that cannot judge a name must not hide the file from sync
    }
  }

  hint(abs: string, removed: boolean): void {
    const key = toSyncKey(this.root, abs);
    if (!this.#closed && key !== undefined) this.#opts.onEvent({ path: key, removed });
  }

  error(err: Error & { code?: string }): void {
    if (!this.#closed) this.#opts.onError(err);
  }

  /**
   * lstats `abs` and hands the answer to `then`. One lstat in flight per path: events that arrive
   * meanwhile ask for one more look after it, so a write storm on one file costs a few lstats and
   * the last answer reflects the last event.
   */
  look(abs: string, then: (found: Looked) => void): void {
    const inFlight = this.#looking.get(abs);
    if (inFlight) {
      inFlight.again = true;
      return;
    }
    const state = { again: false };
    this.#looking.set(abs, state);
    void lstat(abs)
      .then(
        (st): Looked => ({ st }),
        (error: unknown): Looked => ({ error }),
      )
      .then((found) => {
        if (!this.#closed) then(found);
      })
      .finally(() => {
        this.#looking.delete(abs);
        if (state.again && !this.#closed) this.look(abs, then);
      });
  }
}
