// File system events in, `{ path, removed }` hints out, where `path` is a sync key. A watcher
// never decides an action; the aggregator batches the hints and a flush re-stats. Folders are
// watched, not files: a folder's watch names each child that changes, so 100,000 files in 2,000
// folders hold 2,011 watches, not 102,011 (bench/daemon.md). Two back ends do it:
// watcher-folders.ts (Linux) and watcher-chokidar.ts (elsewhere); watch-scope.ts is what they share.
import { WatchScope, type Watcher, type WatcherOptions } from './watch-scope.js';
import { startChokidarWatcher } from './watcher-chokidar.js';
import { startFolderWatcher } from './watcher-folders.js';

export { toSyncKey, type Watcher, type WatcherError, type WatcherOptions } from './watch-scope.js';

/** The back end used when `backend` is not given. */
export const DEFAULT_BACKEND: 'folders' | 'chokidar' = process.platform === 'linux' ? 'folders' : 'chokidar';

/** Starts watching `root`; resolves once every folder of the tree is watched. */
export async function startWatcher(opts: WatcherOptions): Promise<Watcher> {
  const scope = new WatchScope(opts);
  const follow = opts.followSymlinks ?? false;
  return (opts.backend ?? DEFAULT_BACKEND) === 'folders' ? startFolderWatcher(scope, follow) : startChokidarWatcher(scope, follow);
}
