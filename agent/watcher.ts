// A thin chokidar adapter: file system events in, `{ path, removed }` hints out, where `path` is a
// sync key. It never decides an action; the aggregator batches the hints and a flush re-stats.
//
// Folders only: chokidar is told to ignore everything that is not a folder, so it holds one
// fs.watch (one inotify watch) per folder instead of one per file. A folder's watch already names
// each child that changes (inotify, FSEvents and ReadDirectoryChangesW all report the name);
// chokidar passes that on as its `raw` event, and one lstat of the named child tells a change
// from a removal. At 100,000 files in 2,000 folders that is 2,011 watches instead of 102,011 and
// ~830 MiB less memory (bench/daemon.md). chokidar still does what it is good at: walking the
// tree, watching new folders as they appear (`addDir`), dropping removed ones (`unlinkDir`),
// following symlinked folders, and reporting watch errors.
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
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

/** What chokidar passes with a `raw` event: the folder whose watch fired. */
interface RawDetails {
  readonly watchedPath?: unknown;
}

/** Starts watching `root`; resolves once chokidar has walked the tree and is ready. */
export async function startWatcher(opts: WatcherOptions): Promise<Watcher> {
  const root = path.resolve(opts.root);
  const stateDir = opts.stateDir === undefined ? undefined : path.resolve(opts.stateDir);
  const follow = opts.followSymlinks ?? false;
  let closed = false;

  /** The stateDir, the agent's temp files and the user's ignore rules; never the root. */
  const skipped = (abs: string, isDir: boolean | undefined): boolean => {
    if (stateDir !== undefined && (abs === stateDir || abs.startsWith(stateDir + path.sep))) {
      return true;
    }
    const key = toSyncKey(root, abs);
    if (key === undefined) return false; // the root itself
    if (isAgentTempKey(key)) return true;
    try {
      return opts.ignore.ignores(key, isDir);
    } catch {
      return false; // a matcher that cannot judge a name must not hide the file from sync
    }
  };

  const ignored = (p: string, stats?: Stats): boolean => {
    // Not a folder: not watched on its own (its folder's watch reports it, below). A symlink is
    // let through when links are followed: chokidar then stats the target and asks again.
    if (stats !== undefined && !stats.isDirectory() && !(follow && stats.isSymbolicLink())) return true;
    // Without stats (chokidar asks once before it stats) folder-only patterns cannot match yet;
    // it asks again with stats before descending, so `node_modules/` is never walked.
    return skipped(path.resolve(root, p), stats?.isDirectory());
  };

  const hint = (abs: string, removed: boolean): void => {
    const key = toSyncKey(root, abs);
    if (!closed && key !== undefined) opts.onEvent({ path: key, removed });
  };

  // One lstat in flight per path: events that arrive meanwhile ask for one more look after it,
  // so a write storm on one file costs a few lstats and the last hint reflects the last event.
  const looking = new Map<string, { again: boolean }>();
  const look = (abs: string): void => {
    const inFlight = looking.get(abs);
    if (inFlight) {
      inFlight.again = true;
      return;
    }
    const state = { again: false };
    looking.set(abs, state);
    void lstat(abs)
      .then(
        (st): void => {
          // A folder is chokidar's to report (addDir / unlinkDir); its own time changing says nothing.
          if (st.isDirectory() || skipped(abs, false)) return;
          hint(abs, false);
        },
        (err: unknown): void => {
          const code = (err as NodeJS.ErrnoException).code;
          // Gone: a removal. Anything else (EACCES, …): present but unreadable; the flush reports it.
          const removed = code === 'ENOENT' || code === 'ENOTDIR';
          if (!skipped(abs, undefined)) hint(abs, removed);
        },
      )
      .finally(() => {
        looking.delete(abs);
        if (state.again && !closed) look(abs);
      });
  };

  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    followSymlinks: follow,
    ignored,
    // No awaitWriteFinish: it adds seconds of latency, and the aggregator's quiet time plus the
    // executor's re-stat already keep a file that is still being written from being uploaded.
    // No `atomic`: it merges chokidar's own file events, and files reach us through `raw`; the
    // aggregator's remove hold turns an editor's atomic save into a change.
  });

  // `raw` is chokidar's pass-through of the folder watch's own event (documented as internal):
  // `name` is the child that changed, relative to `watchedPath`.
  // Typed as a string, but Node documents that the name can be missing on some platforms.
  watcher.on('raw', (_event, name: string | null, details: unknown) => {
    const watched = (details as RawDetails | undefined)?.watchedPath;
    if (closed || typeof watched !== 'string') return;
    const dir = path.resolve(root, watched);
    if (typeof name !== 'string' || name === '') {
      // Some platforms omit the name: the folder is flushed and its files scanned.
      if (!skipped(dir, true)) hint(dir, false);
      return;
    }
    look(path.join(dir, name));
  });

  watcher.on('all', (event, p) => {
    if (closed) return;
    const key = toSyncKey(root, p);
    if (key === undefined) return;
    if (event === 'addDir') opts.onEvent({ path: key, removed: false }); // its files are scanned when the folder path is flushed
    else if (event === 'unlinkDir') opts.onEvent({ path: key, removed: true });
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
