// The chokidar back end (the default off Linux): chokidar walks the tree and watches folders only.
//
// chokidar is told to ignore everything that is not a folder, so it holds one fs.watch (one
// inotify watch) per folder instead of one per file. A folder's watch already names each child
// that changes (inotify, FSEvents and ReadDirectoryChangesW all report the name); chokidar
// passes that on as its `raw` event, and one lstat of the named child tells a change from a
// removal. chokidar does the rest: walking the tree, watching new folders as they appear
// (`addDir`), dropping removed ones (`unlinkDir`), following symlinked folders, reporting errors.
// Its walk stats every file of the tree at once (all folders in parallel); at 100,000 files that
// leaves ~400 MiB behind in the process (bench/daemon.md), which is why Linux uses `folders`.
import type { Stats } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { gone } from './scan-hash.js';
import type { Watcher, WatcherError, WatchScope } from './watch-scope.js';

/** What chokidar passes with a `raw` event: the folder whose watch fired. */
interface RawDetails {
  readonly watchedPath?: unknown;
}

/** Starts watching the scope's root; resolves once chokidar has walked the tree and is ready. */
export async function startChokidarWatcher(scope: WatchScope, follow: boolean): Promise<Watcher> {
  const { root } = scope;
  const ignored = (p: string, stats?: Stats): boolean => {
    // Not a folder: not watched on its own (its folder's watch reports it, below). A symlink is
    // let through when links are followed: chokidar then stats the target and asks again.
    if (stats !== undefined && !stats.isDirectory() && !(follow && stats.isSymbolicLink())) return true;
    // Without stats (chokidar asks once before it stats) folder-only patterns cannot match yet;
    // it asks again with stats before descending, so `node_modules/` is never walked.
    return scope.skipped(path.resolve(root, p), stats?.isDirectory());
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
    if (scope.closed || typeof watched !== 'string') return;
    const dir = path.resolve(root, watched);
    if (typeof name !== 'string' || name === '') {
      // Some platforms omit the name: the folder is flushed and its files scanned.
      if (!scope.skipped(dir, true)) scope.hint(dir, false);
      return;
    }
    const abs = path.join(dir, name);
    scope.look(abs, (found) => {
      if (found.st) {
        // A folder is chokidar's to report (addDir / unlinkDir); its own time changing says nothing.
        if (!found.st.isDirectory() && !scope.skipped(abs, false)) scope.hint(abs, false);
        return;
      }
      // Gone: a removal. Anything else (EACCES, …): present but unreadable; the flush reports it.
      if (!scope.skipped(abs, undefined)) scope.hint(abs, gone(found.error));
    });
  });

  watcher.on('all', (event, p) => {
    if (event === 'addDir') scope.hint(path.resolve(root, p), false); // its files are scanned when the folder path is flushed
    else if (event === 'unlinkDir') scope.hint(path.resolve(root, p), true);
  });
  watcher.on('error', (err) => scope.error(err as WatcherError));

  await new Promise<void>((resolve) => watcher.once('ready', resolve));
  return {
    async close() {
      scope.close();
      await watcher.close();
    },
  };
}
