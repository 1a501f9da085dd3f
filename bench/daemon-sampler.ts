// What bench/daemon.ts watches from outside the daemon: resident memory of its process tree
// (VmRSS and VmHWM from /proc, children included) every few hundred ms, each sample tagged with
// the phase the bench is in, and every manifest write (inotify on the state folder).

import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

export interface MemSample {
  /** ms since the sampler started. */
  readonly t: number;
  readonly phase: string;
  /** VmRSS of the daemon and every descendant, summed, KiB. */
  readonly rssKiB: number;
  /** VmHWM (peak RSS so far) of the daemon process alone, KiB. */
  readonly hwmKiB: number;
  /** VmHWM summed over the tree (an upper bound of the tree's peak), KiB. */
  readonly treeHwmKiB: number;
  /** Processes in the tree (1 = no children). */
  readonly procs: number;
}

async function statusOf(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined; // gone
  }
}

/** Direct children of `pid`, from every thread's `children` file. */
async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const tid of tasks) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const c of text.split(' ')) if (c.trim() !== '') out.push(Number(c));
  }
  return out;
}

/** One reading of the tree rooted at `pid`; undefined once the root is gone. */
export async function readTree(pid: number): Promise<Omit<MemSample, 't' | 'phase'> | undefined> {
  const root = await statusOf(pid);
  if (root === undefined) return undefined;
  let rss = root.rss;
  let treeHwm = root.hwm;
  let procs = 1;
  const queue = await childrenOf(pid);
  while (queue.length > 0) {
    const child = queue.shift() as number;
    const s = await statusOf(child);
    if (s === undefined) continue;
    rss += s.rss;
    treeHwm += s.hwm;
    procs++;
    queue.push(...(await childrenOf(child)));
  }
  return { rssKiB: rss, hwmKiB: root.hwm, treeHwmKiB: treeHwm, procs };
}

export interface SamplerOptions {
  readonly pid: number;
  /** @default 250 */
  readonly everyMs?: number;
}

/** Samples until `stop()` or until the process is gone. */
export class MemSampler {
  readonly samples: MemSample[] = [];
  #phase = 'start';
  #running = true;
  readonly #started = Date.now();
  readonly #loop: Promise<void>;

  constructor(opts: SamplerOptions) {
    this.#loop = (async () => {
      while (this.#running) {
        const r = await readTree(opts.pid);
        if (r === undefined) break;
        this.samples.push({ t: Date.now() - this.#started, phase: this.#phase, ...r });
        await new Promise((resolve) => setTimeout(resolve, opts.everyMs ?? 250));
      }
    })();
  }

  /** Tags the samples from now on. */
  set phase(name: string) {
    this.#phase = name;
  }

  get phase(): string {
    return this.#phase;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/** One finished manifest write: the rename of the temp file onto the manifest's name. */
export interface WriteEvent {
  readonly at: number;
  readonly phase: string;
}

/**
 * Counts manifest writes. The store writes a temp file and renames it over the manifest (lowdb's
 * steno), so each write is exactly one inotify move onto the manifest's name; its `.bak` and the
 * status file have other names.
 */
export class WriteCounter {
  readonly events: WriteEvent[] = [];
  readonly #watcher: FSWatcher;

  constructor(stateDir: string, manifestName: string, phase: () => string) {
    this.#watcher = watch(stateDir, (type, name) => {
      if (type === 'rename' && name === manifestName) this.events.push({ at: Date.now(), phase: phase() });
    });
  }

  inPhase(phase: string): number {
    return this.events.filter((e) => e.phase === phase).length;
  }

  close(): void {
    this.#watcher.close();
  }
}
