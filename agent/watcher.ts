// A thin chokidar adapter: file system events in, `{ path, removed }` hints out, where `path` is a
// sync key. It never decides an action; the aggregator batches the hints and a flush re-stats.
import type { Stats } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
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
}

export interface Watcher {
  /** Stops watching; no event or error is delivered after the returned promise settles. */
  close(): Promise<void>;
}

/** A path chokidar reports -> sync key; undefined for the root itself or anything outside it. */
export function toSyncKey(root: string, p: string): string | undefined {
  const rel = path.relative(root, path.resolve(root, p));
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    return undefined;
  }
  return rel.split(path.sep).join('/').normalize('NFC');
}

/** Starts watching `root`; resolves once chokidar has walked the tree and is ready. */
export async function startWatcher(opts: WatcherOptions): Promise<Watcher> {
  const root = path.resolve(opts.root);
  const stateDir = opts.stateDir === undefined ? undefined : path.resolve(opts.stateDir);
  let closed = false;

  const ignored = (p: string, stats?: Stats): boolean => {
    const abs = path.resolve(root, p);
    if (stateDir !== undefined && (abs === stateDir || abs.startsWith(stateDir + path.sep))) {
      return true;
    }
    const key = toSyncKey(root, abs);
    if (key === undefined) return false; // the root itself
    if (isAgentTempKey(key)) return true;
    try {
      // Without stats (chokidar asks once before it stats) folder-only patterns cannot match yet;
      // it asks again with stats before descending, so `node_modules/` is never walked.
      return opts.ignore.ignores(key, stats?.isDirectory());
    } catch {
      return false; // a matcher that cannot judge a name must not hide the file from sync
    }
  };

  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    // Chokidar holds an unlink briefly and merges unlink+add into change (editors' atomic saves).
    atomic: true,
    followSymlinks: opts.followSymlinks ?? false,
    ignored,
    // No awaitWriteFinish: it adds seconds of latency, and the aggregator's quiet time plus the
    // executor's re-stat already keep a file that is still being written from being uploaded.
  });

  watcher.on('all', (event, p) => {
    if (closed) return;
    const key = toSyncKey(root, p);
    if (key === undefined) return;
    switch (event) {
      case 'add':
      case 'change':
      case 'addDir': // a new folder: its files are scanned when the folder path is flushed
        opts.onEvent({ path: key, removed: false });
        break;
      case 'unlink':
      case 'unlinkDir':
        opts.onEvent({ path: key, removed: true });
        break;
    }
  });
  watcher.on('error', (err) => {
    if (!closed) opts.onError(err as WatcherError);
  });

  await new Promise<void>((resolve) => watcher.once('ready', resolve));
  return {
    async close() {
      closed = true;
      await watcher.close();
    },
  };
}
