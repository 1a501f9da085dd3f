// The folders back end (the default on Linux): one node:fs watch per folder, and the tree walked
// here, WALK_WIDTH folders at a time, reading folder entries only (no stat per file).
//
// Why not chokidar's walk: it reads every folder at once and stats every file of the tree
// together (100,000 lstat requests in flight at 100,000 files). The memory of those requests
// stays in the process as fragmentation after they are done: ~400 MiB more RSS for the daemon's
// life at 100,000 files, and 4 s of walk, against ~20 MiB and 0.3 s here (bench/daemon.md).
//
// inotify reports a folder's children by name (create, change, delete, rename); one lstat of the
// named child tells what happened: a file changed, a file is gone, a new folder to watch (and to
// flush, so the files made in it before its watch existed are scanned), a watched folder gone.
import { watch as fsWatch, type Dirent, type FSWatcher } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import PQueue from 'p-queue';
import { isInside } from './paths.js';
import { gone } from './scan-hash.js';
import type { Watcher, WatcherError, WatchScope } from './watch-scope.js';

/** Folders read at once while walking. @default 8 */
const WALK_WIDTH = 8;

const isLimit = (code: string | undefined): boolean => code === 'ENOSPC' || code === 'EMFILE';

export async function startFolderWatcher(scope: WatchScope, follow: boolean): Promise<Watcher> {
  const { root } = scope;
  /** Watched folders by the path the tree names them (a followed link's path, not its target). */
  const watches = new Map<string, { readonly w: FSWatcher; readonly real: string }>();
  const walking = new PQueue({ concurrency: WALK_WIDTH });
  // After ENOSPC / EMFILE every further watch would fail the same way: reported once, then the
  // daemon's periodic passes take over (agent/pair-watch.ts).
  let exhausted = false;

  /** Watches one folder; false when it is already watched, gone, or cannot be watched. */
  const watchOne = (dir: string, real: string): boolean => {
    if (scope.closed || exhausted || watches.has(dir)) return false;
    let w: FSWatcher;
    try {
      w = fsWatch(dir, { persistent: true }, (_event, name) => onChild(dir, name));
    } catch (e) {
      const err = e as WatcherError;
      if (dir === root && !isLimit(err.code)) throw err; // the watcher cannot start: the daemon says so
      if (isLimit(err.code)) exhausted = true;
      // A folder gone before its watch: its parent's event already said so.
      if (!gone(err)) scope.error(err);
      return false;
    }
    w.on('error', (err: WatcherError) => {
      unwatch(dir);
      if (!gone(err)) scope.error(err);
    });
    watches.set(dir, { w, real });
    return true;
  };

  /**
   * Closes the watches of `dir` and of every folder under it; true when `dir` itself was one.
   * Only a watched folder has watched folders under it (the walk descends from watches), so a
   * file's event costs one lookup, not a scan of every watch.
   */
  const unwatch = (dir: string): boolean => {
    if (!watches.has(dir)) return false;
    const under = dir + path.sep;
    for (const [d, { w }] of watches) {
      if (d === dir || d.startsWith(under)) {
        w.close();
        watches.delete(d);
      }
    }
    return true;
  };

  /** A followed link's target, when it is a folder inside the root that is not one of its own ancestors. */
  const linkedFolder = async (abs: string): Promise<string | undefined> => {
    try {
      const real = await realpath(abs);
      if (!(await stat(real)).isDirectory() || !isInside(watches.get(root)?.real ?? root, real)) return undefined;
      for (let d = path.dirname(abs); isInside(root, d); d = path.dirname(d)) {
        const up = watches.get(d)?.real;
        if (up !== undefined && isInside(real, up)) return undefined; // a loop: it contains its own link
        if (d === root) break;
      }
      return real;
    } catch {
      return undefined; // broken or unreadable: the scan reports it
    }
  };

  /** Watches `dir` and the folders under it (not ignored); resolves once all are watched. */
  const walk = async (dir: string, real: string): Promise<void> => {
    const subs = await walking.add(async (): Promise<{ abs: string; real?: string }[]> => {
      if (!watchOne(dir, real)) return [];
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return []; // unreadable: the scan reports it; the folder's own watch still reports names
      }
      const found: { abs: string; real?: string }[] = [];
      for (const e of entries) {
        const abs = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!scope.skipped(abs, true)) found.push({ abs, real: path.join(real, e.name) });
        } else if (follow && e.isSymbolicLink()) found.push({ abs });
      }
      return found;
    });
    await Promise.all(
      (subs ?? []).map(async (s) => {
        // A folder was judged above; a followed link is judged here, once its target is known.
        if (s.real !== undefined) return walk(s.abs, s.real);
        const target = await linkedFolder(s.abs);
        if (target !== undefined && !scope.skipped(s.abs, true)) await walk(s.abs, target);
      }),
    );
  };

  /** A watched folder's child changed (or the folder itself, when the name is missing). */
  const onChild = (dir: string, name: string | null): void => {
    if (scope.closed || !watches.has(dir)) return;
    if (name === null || name === '') {
      // Some platforms omit the name: the folder is flushed and its files scanned.
      if (!scope.skipped(dir, true)) scope.hint(dir, false);
      return;
    }
    const abs = path.join(dir, name);
    scope.look(abs, (found) => {
      if (!found.st) {
        const wasFolder = unwatch(abs);
        // Gone: a removal. Anything else (EACCES, …): present but unreadable; the flush reports it.
        if (!scope.skipped(abs, wasFolder ? true : undefined)) scope.hint(abs, gone(found.error));
        return;
      }
      const st = found.st;
      if (st.isDirectory() || (follow && st.isSymbolicLink())) {
        // A watched folder's own time changed: its children report themselves.
        if (watches.has(abs) || scope.skipped(abs, true)) return;
        void newFolder(dir, abs, st.isDirectory());
        return;
      }
      unwatch(abs); // a watched folder replaced by a file: its watch follows the old folder
      if (!scope.skipped(abs, false)) scope.hint(abs, false);
    });
  };

  /** A folder (or a followed link) appeared: flushed as a path (its files are scanned), then watched. */
  const newFolder = async (dir: string, abs: string, isFolder: boolean): Promise<void> => {
    const parentReal = watches.get(dir)?.real ?? dir;
    const real = isFolder ? path.join(parentReal, path.basename(abs)) : await linkedFolder(abs);
    if (!isFolder && real === undefined) return void scope.hint(abs, false); // a link to a file (or broken): a file hint
    scope.hint(abs, false);
    if (real !== undefined) await walk(abs, real);
  };

  await walk(root, await realpath(root));
  return {
    async close() {
      scope.close();
      walking.clear();
      for (const { w } of watches.values()) w.close();
      watches.clear();
    },
  };
}
