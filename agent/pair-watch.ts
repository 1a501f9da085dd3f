// A pair's watcher as the daemon sees it: events go to the aggregator; when the OS runs out of
// watches (ENOSPC, EMFILE) or the watcher cannot start, one clear log line and a switch to
// periodic passes; other watcher errors are logged once per code.

import type { PairRuntime } from './pair.js';
import type { WatchEvent } from './aggregator.js';
import { describeError } from './executor.js';
import { startWatcher, type Watcher, type WatcherError, type WatcherOptions } from './watcher.js';

export type StartWatcher = (opts: WatcherOptions) => Promise<Watcher>;

export interface PairWatchOptions {
  readonly rt: PairRuntime;
  readonly onEvent: (ev: WatchEvent) => void;
  /** Called once, when real time became incomplete and periodic passes must take over. */
  readonly onDegraded: () => void;
  /** Period of the fallback passes, for the log line. */
  readonly fallbackEverySec: number;
  /** @default startWatcher (chokidar) */
  readonly start?: StartWatcher;
}

export class PairWatch {
  readonly #opts: PairWatchOptions;
  #watcher: Watcher | undefined;
  #closed = false;
  #degraded = false;
  readonly #seenCodes = new Set<string>();

  constructor(opts: PairWatchOptions) {
    this.#opts = opts;
  }

  get fallbackEverySec(): number {
    return this.#opts.fallbackEverySec;
  }

  /** Whether the fallback to periodic passes is on. */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Starts watching; never throws (a watcher that cannot start degrades to periodic passes). */
  async start(): Promise<void> {
    const { rt, onEvent } = this.#opts;
    try {
      const watcher = await (this.#opts.start ?? startWatcher)({
        root: rt.pair.local,
        ignore: rt.ignore,
        stateDir: rt.stateDir,
        followSymlinks: rt.pair.symlinks === 'follow',
        onEvent,
        onError: (err) => this.#onError(err),
      });
      // A close that came while chokidar was walking the tree found nothing to close.
      if (this.#closed) await watcher.close();
      else this.#watcher = watcher;
    } catch (e) {
      const code = (e as WatcherError).code;
      if (code === 'ENOSPC' || code === 'EMFILE') this.#onError(e as WatcherError);
      else this.#degrade('watch-failed', `the watcher could not start (${describeError(e)})`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.close().catch(() => undefined);
  }

  #onError(err: WatcherError): void {
    const code = err.code ?? 'unknown';
    if (code === 'ENOSPC') return this.#degrade(code, 'inotify watches exhausted: raise fs.inotify.max_user_watches');
    if (code === 'EMFILE') return this.#degrade(code, 'too many open files for the watcher (EMFILE): raise the open-files limit (ulimit -n)');
    if (this.#seenCodes.has(code)) return;
    this.#seenCodes.add(code);
    this.#opts.rt.log.warn({ event: 'watch-error', code, error: err.message }, `watcher error (${code}): ${err.message}; periodic passes still cover it`);
  }

  #degrade(code: string, why: string): void {
    if (this.#degraded || this.#closed) return;
    this.#degraded = true;
    this.#opts.rt.log.error({ event: 'watch-limit', code }, `${why}; falling back to periodic passes every ${this.#opts.fallbackEverySec}s`);
    this.#opts.onDegraded();
  }
}
