// Experiment for bench/daemon.md, not product code: the daemon with a watcher that holds one
// inotify watch per FOLDER (node:fs watch on each directory; a folder's watch reports its files'
// changes by name) instead of chokidar's one per file. It measures what the fix ranked first in
// bench/daemon.md would save, with the real daemon otherwise (runDaemon with `worker.watch`, the
// seam the tests use). Run by bench/daemon.ts --watcher dirs, or alone:
//   node --import tsx bench/daemon-dirwatch.ts --config <agent.config.json>
// Not handled here (a product version must): symlinked folders with symlinks "follow", rename
// storms throttled, macOS (FSEvents reports differently).

import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isAgentTempKey } from '../agent/aggregator.js';
import { runDaemon } from '../agent/daemon.js';
import { toSyncKey, type Watcher, type WatcherError, type WatcherOptions } from '../agent/watcher.js';

/** The StartWatcher seam of agent/pair-watch.ts, with folder watches only. */
export async function startDirWatcher(opts: WatcherOptions): Promise<Watcher> {
  const root = path.resolve(opts.root);
  const stateDir = opts.stateDir === undefined ? undefined : path.resolve(opts.stateDir);
  const watches = new Map<string, FSWatcher>();
  let closed = false;

  const skipped = (abs: string, isDir: boolean): boolean => {
    if (stateDir !== undefined && (abs === stateDir || abs.startsWith(stateDir + path.sep))) return true;
    const key = toSyncKey(root, abs);
    if (key === undefined) return false; // the root
    if (isAgentTempKey(key)) return true;
    try {
      return opts.ignore.ignores(key, isDir);
    } catch {
      return false;
    }
  };
  const hint = (abs: string, removed: boolean): void => {
    const key = toSyncKey(root, abs);
    if (!closed && key !== undefined) opts.onEvent({ path: key, removed });
  };

  /** Watches `dir` and every folder under it (not ignored, not a symlink). */
  const watchTree = async (dir: string): Promise<void> => {
    if (closed || watches.has(dir)) return;
    let w: FSWatcher;
    try {
      w = fsWatch(dir, { persistent: true }, (_type, name) => onRaw(dir, name));
    } catch (e) {
      opts.onError(e as WatcherError);
      return;
    }
    w.on('error', (e) => opts.onError(e as WatcherError));
    watches.set(dir, w);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory() && !skipped(abs, true)) await watchTree(abs);
    }
  };

  const unwatchTree = (dir: string): void => {
    for (const [d, w] of watches) {
      if (d === dir || d.startsWith(dir + path.sep)) {
        w.close();
        watches.delete(d);
      }
    }
  };

  /** Any event names a child (or, with no name, the folder itself): the hint is what lstat says now. */
  const onRaw = (dir: string, name: string | Buffer | null): void => {
    if (closed) return;
    if (name === null) return hint(dir, false);
    const abs = path.join(dir, name.toString());
    void lstat(abs).then(
      (st) => {
        if (skipped(abs, st.isDirectory())) return;
        if (st.isDirectory()) {
          if (watches.has(abs)) return; // a folder's own time changed: its children report themselves
          // A new folder: watch it; its files are scanned when the folder's path is flushed.
          void watchTree(abs);
        }
        hint(abs, false);
      },
      () => {
        unwatchTree(abs);
        if (!skipped(abs, false)) hint(abs, true);
      },
    );
  };

  await watchTree(root);
  return {
    async close() {
      closed = true;
      for (const w of watches.values()) w.close();
      watches.clear();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', default: 'agent.config.json' } } });
  const code = await runDaemon({ config: values.config, worker: { watch: startDirWatcher } });
  // As agent/daemon-command.ts: a socket kept alive by the SDK must not hold the exit.
  setTimeout(() => process.exit(code), 2000).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
