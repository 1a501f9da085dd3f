// The watcher (folder watches only) on a real temp folder, each case run on both back ends: the
// node:fs folder watches (Linux's default) and real chokidar. Serial, and every wait is on a
// condition with a generous deadline: the box is shared and inotify latency varies.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import ignore from 'ignore';
import { Aggregator, type FlushBatch, type WatchEvent } from '../agent/aggregator.js';
import { systemClock } from '../agent/clock.js';
import { startWatcher, toSyncKey, type Watcher, type WatcherError } from '../agent/watcher.js';

interface Ctx {
  root: string;
  events: WatchEvent[];
  errors: WatcherError[];
  /** Every key the matcher was asked about: shows which folders the watcher walked into. */
  asked: string[];
  backend: Backend;
  watcher?: Watcher;
}
type Backend = 'folders' | 'chokidar';
const BACKENDS: readonly Backend[] = ['folders', 'chokidar'];
const test = anyTest as TestFn<Ctx>;

const DEADLINE_MS = 30_000;

/** Polls until `pred` holds; fails with `what` after the deadline. */
async function waitFor(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const saw = (events: readonly WatchEvent[], p: string, removed: boolean) =>
  events.some((e) => e.path === p && e.removed === removed);

/** Starts the adapter the way the daemon would, with a .gitignore-style matcher. */
async function start(
  t: { context: Ctx },
  patterns: string[] = [],
  also: (ev: WatchEvent) => void = () => undefined,
  follow = false,
): Promise<void> {
  const ig = ignore().add(patterns);
  t.context.watcher = await startWatcher({
    root: t.context.root,
    backend: t.context.backend,
    ...(follow ? { followSymlinks: true } : {}),
    ignore: {
      ignores: (p, isDir) => {
        t.context.asked.push(p);
        return ig.ignores(isDir === true ? `${p}/` : p);
      },
    },
    stateDir: path.join(t.context.root, '.sync-agent'),
    onEvent: (ev) => {
      t.context.events.push(ev);
      also(ev);
    },
    onError: (err) => t.context.errors.push(err),
  });
}

test.beforeEach(async (t) => {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'sync-agent-watcher-')));
  t.context = { root, events: [], errors: [], asked: [], backend: 'folders' };
});

test.afterEach.always(async (t) => {
  await t.context.watcher?.close();
  await rm(t.context.root, { recursive: true, force: true });
});

/** Registers a serial test once per back end. */
function both(title: string, fn: (t: ExecutionContext<Ctx>) => Promise<void>): void {
  for (const backend of BACKENDS) {
    test.serial(`[${backend}] ${title}`, async (t) => {
      t.context.backend = backend;
      await fn(t);
    });
  }
}

both('create, modify and delete produce hints with sync keys', async (t) => {
  const { root, events } = t.context;
  await mkdir(path.join(root, 'docs'));
  await start(t);
  t.deepEqual(events, [], 'ignoreInitial: files already there are not reported');

  await writeFile(path.join(root, 'docs', 'a.txt'), 'one');
  await waitFor(() => saw(events, 'docs/a.txt', false), 'the create of docs/a.txt');
  const before = events.length;
  await writeFile(path.join(root, 'docs', 'a.txt'), 'two, longer');
  await waitFor(() => saw(events.slice(before), 'docs/a.txt', false), 'the modify');
  await unlink(path.join(root, 'docs', 'a.txt'));
  await waitFor(() => saw(events, 'docs/a.txt', true), 'the delete of docs/a.txt');

  // A decomposed (NFD) name on disk is reported under its NFC key.
  await writeFile(path.join(root, 'Cafe\u0301.txt'), 'x');
  await waitFor(() => saw(events, 'Caf\u00e9.txt', false), 'the NFC key of an NFD name');
  t.deepEqual(t.context.errors, []);
});

both('ignored patterns, the temp prefix and the stateDir produce no hints', async (t) => {
  const { root, events } = t.context;
  await start(t, ['*.tmp', 'node_modules/']);
  await writeFile(path.join(root, 'scratch.tmp'), 'x');
  await writeFile(path.join(root, '.sync-agent-tmp-0a1b2c'), 'half a download');
  await mkdir(path.join(root, 'node_modules', 'pkg'), { recursive: true });
  await writeFile(path.join(root, 'node_modules', 'pkg', 'index.js'), 'x');
  await mkdir(path.join(root, '.sync-agent'));
  await writeFile(path.join(root, '.sync-agent', 'manifest.json'), '{}');
  // Sentinels written after the noise: once both are seen, the noise had its chance.
  await writeFile(path.join(root, 'sentinel-1.txt'), 'x');
  await waitFor(() => saw(events, 'sentinel-1.txt', false), 'the first sentinel');
  await writeFile(path.join(root, 'sentinel-2.txt'), 'x');
  await waitFor(() => saw(events, 'sentinel-2.txt', false), 'the second sentinel');
  t.deepEqual(
    events.map((e) => e.path).filter((p) => !p.startsWith('sentinel-')),
    [],
  );
  t.deepEqual(
    t.context.asked.filter((p) => p.startsWith('node_modules/') || p.startsWith('.sync-agent/')),
    [],
    'an ignored folder and the stateDir are never walked into (no inotify watches spent)',
  );
  t.deepEqual(t.context.errors, []);
});

both('a new nested folder is seen, and a removed folder is a remove', async (t) => {
  const { root, events } = t.context;
  await start(t);
  await mkdir(path.join(root, 'a', 'b', 'c'), { recursive: true });
  await writeFile(path.join(root, 'a', 'b', 'c', 'deep.txt'), 'x');
  // Only the top folder is certain: a new folder is read before it is watched, so a file
  // made in that instant can be missed. The daemon scans a flushed folder path, which covers it.
  await waitFor(() => saw(events, 'a', false), 'the new folder a');
  t.true(
    events.every((e) => e.path === 'a' || e.path.startsWith('a/')),
    'every key is relative to the root',
  );

  await rm(path.join(root, 'a'), { recursive: true });
  await waitFor(() => saw(events, 'a', true), 'the removal of folder a');
  t.deepEqual(t.context.errors, []);
});

both('a folder renamed in the tree is watched under its new name, and the old name is a remove', async (t) => {
  const { root, events } = t.context;
  await mkdir(path.join(root, 'old', 'inner'), { recursive: true });
  await writeFile(path.join(root, 'old', 'inner', 'f.txt'), 'x');
  await start(t);
  await rename(path.join(root, 'old'), path.join(root, 'new'));
  await waitFor(() => saw(events, 'old', true), 'the old name as removed');
  await waitFor(() => saw(events, 'new', false), 'the new name as present');
  // A file changed after the rename is reported under the folder's new name, never the old one.
  // chokidar arms its watches under the new name after it reports it (it walks the folder
  // again), so a write in that instant can go unseen (the daemon scans a flushed folder path,
  // which covers it): write again until one is reported.
  const end = Date.now() + DEADLINE_MS;
  for (let n = 0; !saw(events, 'new/inner/f.txt', false); n++) {
    if (Date.now() > end) throw new Error('timed out waiting for the change under the new name');
    await writeFile(path.join(root, 'new', 'inner', 'f.txt'), `changed ${n}`);
    const wait = Date.now() + 500;
    while (!saw(events, 'new/inner/f.txt', false) && Date.now() < wait) await new Promise((r) => setTimeout(r, 25));
  }
  // (A moved folder's own watch may name itself, `old/old` removed: a path that is not there, harmless.)
  t.false(events.some((e) => e.path.startsWith('old/') && !e.removed), 'nothing present under the old name');
  t.deepEqual(t.context.errors, []);
});

both('hostile names: a newline in a name is reported exactly, bytes that are not UTF-8 break nothing', async (t) => {
  const { root, events } = t.context;
  await start(t);
  await writeFile(path.join(root, 'line\nbreak.txt'), 'x');
  await waitFor(() => saw(events, 'line\nbreak.txt', false), 'the name with a newline');
  // A name that is not valid UTF-8 (Latin-1 "é"): Node hands the watcher a lossy string, which
  // names no file. It must not be reported as a file that exists, nor stop the watcher.
  await writeFile(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'x');
  await writeFile(path.join(root, 'sentinel.txt'), 'x');
  await waitFor(() => saw(events, 'sentinel.txt', false), 'a file written after it');
  t.false(events.some((e) => e.path.startsWith('bad-') && !e.removed), 'the undecodable name is not reported as present');
  t.deepEqual(t.context.errors, []);
});

// The folders back end only: chokidar, off Linux, follows links its own way (and this case's loop
// is not something it was measured with here).
test.serial('[folders] symlinks "follow": a linked folder inside the root is watched under the link, a loop ends', async (t) => {
  t.context.backend = 'folders';
  const { root, events } = t.context;
  await mkdir(path.join(root, 'real', 'sub'), { recursive: true });
  await symlink(path.join(root, 'real'), path.join(root, 'link'));
  await symlink(root, path.join(root, 'real', 'loop')); // points at a folder that contains it
  await start(t, [], undefined, true);
  await writeFile(path.join(root, 'real', 'sub', 'f.txt'), 'x');
  await waitFor(() => saw(events, 'link/sub/f.txt', false), 'the change seen through the link');
  await waitFor(() => saw(events, 'real/sub/f.txt', false), 'the change seen at its real path');
  // A link made while watching, to a folder: flushed as a path, then watched.
  await mkdir(path.join(root, 'other'));
  await symlink(path.join(root, 'other'), path.join(root, 'later'));
  await waitFor(() => saw(events, 'later', false), 'the new link');
  await waitFor(() => saw(events, 'other', false), 'the new folder');
  t.deepEqual(t.context.errors, []);
});

test.serial('[folders] a root that does not exist: the watcher does not start, and says why', async (t) => {
  t.context.backend = 'folders';
  t.context.root = path.join(t.context.root, 'missing');
  const err = await t.throwsAsync(() => start(t));
  t.is((err as WatcherError | undefined)?.code, 'ENOENT');
});

/** inotify watches this process holds (Linux: one `inotify wd:` line per watch in fdinfo). */
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

both('one watch per folder, not per file: files there before the start are still seen', async (t) => {
  const { root, events } = t.context;
  // 10 folders × 40 files, one nested folder: 12 folders with the root, 401 files.
  for (let d = 0; d < 10; d++) {
    await mkdir(path.join(root, `d${d}`));
    for (let f = 0; f < 40; f++) await writeFile(path.join(root, `d${d}`, `f${f}.txt`), `${d}/${f}`);
  }
  await mkdir(path.join(root, 'd0', 'inner'));
  await writeFile(path.join(root, 'd0', 'inner', 'deep.txt'), 'deep');
  const before = process.platform === 'linux' ? await inotifyWatches() : 0;
  await start(t);
  if (process.platform === 'linux') {
    // Were each file watched too (chokidar's default), this would be 413: what runs a daemon at
    // 100,000 files out of inotify watches and memory.
    t.is((await inotifyWatches()) - before, 12, 'one inotify watch per folder');
  }

  await writeFile(path.join(root, 'd3', 'f7.txt'), 'changed');
  await waitFor(() => saw(events, 'd3/f7.txt', false), 'the change of a file that was there before');
  await writeFile(path.join(root, 'd0', 'inner', 'deep.txt'), 'deeper');
  await waitFor(() => saw(events, 'd0/inner/deep.txt', false), 'the change in a nested folder');
  await unlink(path.join(root, 'd9', 'f39.txt'));
  await waitFor(() => saw(events, 'd9/f39.txt', true), 'the removal of a file that was there before');
  // A storm of writes then a removal: the last hint for the path says removed.
  for (let i = 0; i < 50; i++) await writeFile(path.join(root, 'd5', 'f1.txt'), `v${i}`);
  await unlink(path.join(root, 'd5', 'f1.txt'));
  await waitFor(() => events.filter((e) => e.path === 'd5/f1.txt').at(-1)?.removed === true, 'the storm to end in a removal');
  t.false(events.some((e) => e.path === 'd5'), 'a folder whose files change is not itself a hint');
  t.deepEqual(t.context.errors, []);
});

/** What the daemon would see when it re-stats each flushed path: present or not. */
interface SeenFlush {
  readonly batch: FlushBatch;
  readonly exists: ReadonlyMap<string, boolean>;
}

function realTimeAggregator(root: string, flushes: SeenFlush[], echoWindowMs?: number): Aggregator {
  return new Aggregator({
    clock: systemClock,
    debounceMs: 200,
    ...(echoWindowMs === undefined ? {} : { echoWindowMs }),
    onFlush: (batch) => {
      const exists = new Map<string, boolean>();
      if (batch.kind === 'paths') {
        for (const p of batch.paths) exists.set(p, existsSync(path.join(root, ...p.split('/'))));
      }
      flushes.push({ batch, exists });
    },
  });
}

const flushedAs = (flushes: readonly SeenFlush[], p: string) =>
  flushes.flatMap((f) => (f.exists.has(p) ? [f.exists.get(p)] : []));

both('real time: an atomic save flushes as present, a delete as absent', async (t) => {
  const { root } = t.context;
  await writeFile(path.join(root, 'report.txt'), 'v1');
  const flushes: SeenFlush[] = [];
  const agg = realTimeAggregator(root, flushes);
  await start(t, ['*.partial'], (ev) => agg.push(ev));
  try {
    // An editor's atomic save: write a side file, rename it over the original.
    await writeFile(path.join(root, 'report.txt.partial'), 'v2, saved atomically');
    await rename(path.join(root, 'report.txt.partial'), path.join(root, 'report.txt'));
    await waitFor(() => flushedAs(flushes, 'report.txt').length > 0, 'the flush of report.txt');
    t.deepEqual(flushedAs(flushes, 'report.txt'), [true], 'seen as a change, never as a delete');

    await unlink(path.join(root, 'report.txt'));
    await waitFor(() => flushedAs(flushes, 'report.txt').length > 1, 'the flush of the delete');
    t.deepEqual(flushedAs(flushes, 'report.txt'), [true, false]);
  } finally {
    agg.close();
  }
  t.deepEqual(t.context.errors, []);
});

both('real time: a download the agent writes (temp + rename) is not flushed', async (t) => {
  const { root } = t.context;
  const flushes: SeenFlush[] = [];
  // A long echo window: this test must not depend on how fast a busy box delivers events.
  const agg = realTimeAggregator(root, flushes, 60_000);
  // An existing folder: a new one would also be flushed (as itself), so its files get scanned.
  await mkdir(path.join(root, 'dl'));
  await start(t, [], (ev) => agg.push(ev));
  try {
    // What the executor does for a download: announce, write a temp file, rename it into place.
    agg.beginWrite('dl/file.bin');
    const temp = path.join(root, 'dl', '.sync-agent-tmp-9f8e7d');
    await writeFile(temp, 'downloaded bytes');
    await rename(temp, path.join(root, 'dl', 'file.bin'));
    agg.endWrite('dl/file.bin');
    // A user edit in the same folder afterwards: once it is flushed, the download's events
    // have been seen too: any re-read of the folder that finds the edit finds the download.
    await writeFile(path.join(root, 'dl', 'user-edit.txt'), 'x');
    await waitFor(() => flushedAs(flushes, 'dl/user-edit.txt').length > 0, 'the user edit');
    const flushed = flushes.flatMap((f) => [...f.exists.keys()]);
    t.deepEqual(flushed, ['dl/user-edit.txt'], 'only the user’s own change is flushed');
  } finally {
    agg.close();
  }
});

test('toSyncKey maps paths under the root and refuses the rest', (t) => {
  const root = path.resolve('/data/sync');
  t.is(toSyncKey(root, path.join(root, 'x', 'y.txt')), 'x/y.txt');
  t.is(toSyncKey(root, 'rel/name'), 'rel/name');
  t.is(toSyncKey(root, root), undefined);
  t.is(toSyncKey(root, path.resolve('/data/other/file')), undefined);
  t.is(toSyncKey(root, path.join(root, '..sneaky')), '..sneaky');
});
