// Experiment for bench/daemon.md: what watching a tree costs in memory, alone in a process.
//   node --expose-gc --import tsx bench/daemon-watch.ts <dir> chokidar|agent|agent-chokidar|dirs|none
// `chokidar`: chokidar 5 with the agent's first options (atomic, ignoreInitial: one watch per file);
// `agent`: the agent's own startWatcher with its default back end (folders, on Linux);
// `agent-chokidar`: the agent's startWatcher on its chokidar back end (folders only, chokidar's walk);
// `dirs`: one node:fs watch per folder (inotify on folders only; file events arrive through them);
// `none`: the baseline (modules loaded, nothing watched). Prints one JSON line: memory after the
// watcher is ready and a full GC, how long it took, inotify watches and fs.watch handles it holds.

import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { watch } from 'chokidar';
import { startWatcher } from '../agent/watcher.js';

type Mode = 'chokidar' | 'agent' | 'agent-chokidar' | 'dirs' | 'none';

/** inotify watches this process holds (fdinfo of its inotify descriptors). */
async function inotifyWatches(): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (!target.includes('inotify')) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    n += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return n;
}

async function folders(root: string): Promise<string[]> {
  const out = [root];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) if (e.isDirectory()) out.push(path.join(e.parentPath, e.name));
  return out;
}

async function start(mode: Mode, root: string): Promise<() => Promise<void>> {
  if (mode === 'none') return async () => undefined;
  if (mode === 'chokidar') {
    const w = watch(root, { ignoreInitial: true, atomic: true, followSymlinks: false });
    await new Promise<void>((resolve) => w.once('ready', resolve));
    return () => w.close();
  }
  if (mode === 'agent' || mode === 'agent-chokidar') {
    const backend = mode === 'agent' ? {} : { backend: 'chokidar' as const };
    const w = await startWatcher({ root, ignore: { ignores: () => false }, onEvent: () => undefined, onError: () => undefined, ...backend });
    return () => w.close();
  }
  const watchers: FSWatcher[] = [];
  for (const dir of await folders(root)) watchers.push(fsWatch(dir, () => undefined));
  return async () => watchers.forEach((w) => w.close());
}

const [root, mode] = process.argv.slice(2) as [string | undefined, Mode | undefined];
if (!root || !mode || !['chokidar', 'agent', 'agent-chokidar', 'dirs', 'none'].includes(mode)) {
  process.stderr.write('usage: node --expose-gc --import tsx bench/daemon-watch.ts <dir> chokidar|agent|agent-chokidar|dirs|none\n');
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
const t0 = performance.now();
const stop = await start(mode, path.resolve(root));
const readyMs = Math.round(performance.now() - t0);
gc?.();
const after = process.memoryUsage();
const mib = (b: number): number => Math.round(b / 1024 ** 2);
process.stdout.write(
  `${JSON.stringify({
    mode,
    readyMs,
    rssMiB: mib(after.rss),
    rssAddedMiB: mib(after.rss - before.rss),
    heapUsedAddedMiB: mib(after.heapUsed - before.heapUsed),
    heapTotalAddedMiB: mib(after.heapTotal - before.heapTotal),
    externalAddedMiB: mib(after.external - before.external),
    inotifyWatches: await inotifyWatches(),
    fsWatchHandles: process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length,
  })}\n`,
);
await stop();
