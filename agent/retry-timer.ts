// Retries with backoff for the daemon: paths whose actions failed, or a full pass when the remote
// was down, are handed back after a delay that doubles while things keep failing.

import type { Clock, TimerHandle } from './clock.js';

export interface RetryOptions {
  readonly clock: Clock;
  /** First delay. */
  readonly minMs: number;
  /** Longest delay, however long the failures last. */
  readonly maxMs: number;
  /** Receives what was scheduled since the last firing: paths, and whether a full pass is wanted. */
  readonly onFire: (paths: ReadonlySet<string>, full: boolean) => void;
}

export class Retry {
  readonly #opts: RetryOptions;
  #delayMs: number;
  #timer: TimerHandle | undefined;
  #paths = new Set<string>();
  #full = false;

  constructor(opts: RetryOptions) {
    this.#opts = opts;
    this.#delayMs = opts.minMs;
  }

  /** Paths waiting for the next firing. */
  get size(): number {
    return this.#paths.size;
  }

  /** Hands `paths` (and a full pass, if `full`) back after the current delay, which then doubles. */
  schedule(paths: Iterable<string>, full: boolean): void {
    for (const p of paths) this.#paths.add(p);
    this.#full ||= full;
    if (this.#timer !== undefined) return;
    const { clock, maxMs, onFire } = this.#opts;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      const paths = this.#paths;
      const full = this.#full;
      this.#paths = new Set();
      this.#full = false;
      onFire(paths, full);
    }, this.#delayMs);
    this.#delayMs = Math.min(maxMs, this.#delayMs * 2);
  }

  /** A clean cycle: the next failure starts again from the shortest delay. */
  succeeded(): void {
    if (this.#timer === undefined) this.#delayMs = this.#opts.minMs;
  }

  cancel(): void {
    if (this.#timer !== undefined) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
