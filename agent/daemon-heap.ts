// How the daemon keeps its heap near what is live (the manifest, the watcher), for a target of
// 300 MiB RSS at 100,000 files: V8 told to grow the heap less between collections
// (limitHeapGrowth), and one collection once the daemon is idle (IdleGc).
//
// V8 collects its old generation only when the heap grows past a limit it sets from the last
// collection, so a daemon that goes quiet
// after a full pass over 100,000 files (or a burst of 1,000 uploads) keeps 100–150 MiB of that
// work's garbage as RSS for as long as it stays quiet (bench/daemon.md). Browsers collect in idle
// time; Node has no idle-time collection. So the daemon asks for one full collection once every
// pair has been idle for a moment and the heap has grown since the last one: a pause of tens of
// milliseconds at 100,000 files, when nothing is waiting on it.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface IdleGcOptions {
  /** Quiet time after the last cycle of any pair ends. @default 2000 */
  readonly delayMs?: number;
  /** Heap growth since the last collection that is worth a collection's pause. @default 32 MiB */
  readonly minGrowthBytes?: number;
  /** Told after each collection (the daemon logs it at debug level). */
  readonly onCollect?: (c: { readonly beforeBytes: number; readonly afterBytes: number; readonly ms: number }) => void;
}

export interface Collection {
  /** A cycle starts: no collection until every cycle has ended. */
  busy(): void;
  /** A cycle ended. */
  idle(): void;
}

const usedHeap = (): number => getHeapStatistics().used_heap_size;

/**
 * How far V8 lets the old generation grow past what the last full collection left, in percent.
 * V8 picks a factor of up to 4× for throughput; in a burst of 1,000 uploads at 100,000 files that
 * let the heap climb from ~60 MiB live to ~230 MiB of mostly garbage before collecting, and the
 * daemon past 300 MiB RSS. 50% keeps it near 1.5× live, for a few more collections of ~70 ms
 * each per burst (bench/daemon.md). @default 50
 */
export const DAEMON_HEAP_GROWTH_PERCENT = 50;

/**
 * Tunes V8 for a long-running daemon (a V8 flag, read each time V8 sets its next limit, so it
 * takes effect from the next collection on). Not for one-shot commands: a --reconcile pass is
 * over before its garbage matters, and fewer collections make it faster.
 */
export function limitHeapGrowth(percent = DAEMON_HEAP_GROWTH_PERCENT): void {
  try {
    setFlagsFromString(`--heap-growing-percent=${percent}`);
  } catch {
    // A runtime that refuses the flag keeps V8's own heuristics: more memory, nothing else.
  }
}

/**
 * V8's full collection. `--expose-gc` set at run time is seen by contexts made after it, so a
 * fresh context hands out `gc` (the same heap: the whole isolate is collected). Undefined if the
 * flag is refused: the daemon then simply runs without idle collections.
 */
function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export class IdleGc implements Collection {
  readonly #delayMs: number;
  readonly #minGrowth: number;
  readonly #onCollect: IdleGcOptions['onCollect'];
  readonly #gc = exposeGc();
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Heap in use right after the last collection; undefined before the first (after the first pass). */
  #live: number | undefined;

  constructor(opts: IdleGcOptions = {}) {
    this.#delayMs = opts.delayMs ?? 2000;
    this.#minGrowth = opts.minGrowthBytes ?? 32 * 1024 * 1024;
    this.#onCollect = opts.onCollect;
  }

  busy(): void {
    this.#busy++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  idle(): void {
    this.#busy = Math.max(0, this.#busy - 1);
    if (this.#busy > 0 || this.#gc === undefined) return;
    clearTimeout(this.#timer);
    // unref: a pending collection never keeps the process alive.
    this.#timer = setTimeout(() => this.#collect(), this.#delayMs).unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #collect(): void {
    this.#timer = undefined;
    const before = usedHeap();
    if (this.#busy > 0 || this.#gc === undefined) return;
    if (this.#live !== undefined && before - this.#live < this.#minGrowth) return;
    const t0 = performance.now();
    this.#gc();
    this.#live = usedHeap();
    this.#onCollect?.({ beforeBytes: before, afterBytes: this.#live, ms: performance.now() - t0 });
  }
}
