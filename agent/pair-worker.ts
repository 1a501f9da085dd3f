// One pair in the daemon: watcher → aggregator → single-flighted cycles. Flushed paths wait in a
// dirty set while a cycle runs and go into the next one together; a full pass (at start, on the
// reconcileEverySec timer, on overflow, on retry) absorbs the dirty set. Guards and a remote that
// is down are logged once, written to status, and retried; nothing here ever crashes the daemon.

import { stat } from 'node:fs/promises';
import type { PairRuntime } from './pair.js';
import { Aggregator, type FlushBatch } from './aggregator.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { runCycle, type CycleReport } from './cycle.js';
import { describeError } from './executor.js';
import { pathsToRecheck } from './recheck.js';
import { StatusWriter } from './status-writer.js';
import type { LiveFigures } from './status-report.js';
import { PairWatch, type StartWatcher } from './pair-watch.js';
import { Retry } from './retry-timer.js';
import type { Collection } from './daemon-heap.js';

export interface PairWorkerOptions {
  readonly rt: PairRuntime;
  /** Aborts the cycle in flight (scan, listing, transfers) when the daemon gives up waiting. */
  readonly signal: AbortSignal;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Let the first full pass through an overridable safety guard (`--force`). @default false */
  readonly force?: boolean;
  /** How often the status file is rewritten while the pair has work. @default 2000 */
  readonly statusEveryMs?: number;
  /** Period of full passes once the watcher has failed. @default Math.min(reconcileEverySec, 60) */
  readonly fallbackEverySec?: number;
  /** Starts the file watcher (tests wrap it to inject watcher errors). @default startWatcher */
  readonly watch?: StartWatcher;
  /** Told when this pair's cycles start and end (the daemon's idle-time collection). @default none */
  readonly collection?: Collection;
}

/**
 * How much later than its add a rename's remove may reach the aggregator: each half is one
 * lstat of the named child in the watcher, answered in any order. (The watcher used chokidar's
 * `atomic`, which held every unlink 100 ms; the margin stayed when that went.)
 */
const REMOVE_LAG_MS = 100;

/** What the running cycle has left, for status. */
interface Busy {
  readonly since: number | undefined;
  planned: number;
  finished: number;
}

export class PairWorker {
  readonly #rt: PairRuntime;
  readonly #signal: AbortSignal;
  readonly #clock: Clock;
  readonly #agg: Aggregator;
  readonly #status: StatusWriter;
  readonly #retry: Retry;
  readonly #statusEveryMs: number;
  readonly #watch: PairWatch;
  readonly #collection: Collection | undefined;
  #force: boolean;

  readonly #dirty = new Set<string>();
  #dirtySince: number | undefined;
  /** Why a full pass is wanted, or undefined. */
  #fullWanted: string | undefined;
  #running: Promise<void> | undefined;
  #busy: Busy | undefined;
  #stopping = false;
  #remoteDown = false;
  /** The guard or error last logged: a repeat is written to status, not logged again. */
  #lastProblem: string | undefined;
  #periodTimer: TimerHandle | undefined;
  #statusTimer: TimerHandle | undefined;
  #firstPassDone: () => void = () => undefined;
  readonly #firstPass = new Promise<void>((resolve) => (this.#firstPassDone = resolve));

  constructor(opts: PairWorkerOptions) {
    this.#collection = opts.collection;
    const { rt } = opts;
    this.#rt = rt;
    this.#signal = opts.signal;
    this.#clock = opts.clock ?? systemClock;
    this.#force = opts.force ?? false;
    this.#statusEveryMs = opts.statusEveryMs ?? 2000;
    const fallbackEverySec = opts.fallbackEverySec ?? Math.min(rt.pair.reconcileEverySec, 60);
    this.#watch = new PairWatch({
      rt,
      onEvent: (ev) => this.#agg.push(ev),
      onDegraded: () => this.#schedulePeriod(),
      fallbackEverySec,
      ...(opts.watch ? { start: opts.watch } : {}),
    });
    this.#status = new StatusWriter(rt);
    this.#agg = new Aggregator({
      clock: this.#clock,
      debounceMs: rt.pair.debounceMs,
      // The two halves of a rename must reach the planner together to become a server-side move.
      // Quiet for debounceMs counted from the real unlink, which may be reported a little late.
      removeRideAlongMs: Math.max(0, rt.pair.debounceMs - REMOVE_LAG_MS),
      onFlush: (batch) => this.#onFlush(batch),
    });
    // Remote down or actions failed: try again after 1 s, doubling, never later than the period.
    this.#retry = new Retry({
      clock: this.#clock,
      minMs: 1000,
      maxMs: Math.min(60_000, rt.pair.reconcileEverySec * 1000),
      onFire: (paths, full) => {
        for (const p of paths) this.#markDirty(p, this.#clock.now());
        if (full) this.#fullWanted ??= 'retry';
        this.#kick();
      },
    });
  }

  /** Starts watching and runs the first full pass; resolves when that pass has ended. */
  async start(): Promise<void> {
    await this.#status.load();
    // Watching a missing root sees nothing; the first pass creates it (first run only), then watch.
    const rootExisted = await stat(this.#rt.pair.local).then((s) => s.isDirectory(), () => false);
    if (rootExisted) await this.#watch.start();
    this.#requestFull('start');
    this.#tickStatus();
    await this.#firstPass;
    if (!rootExisted && !this.#stopping) {
      await this.#watch.start();
      this.#requestFull('the local folder was created; catching up with changes made meanwhile');
    }
  }

  /** Stops watching and taking new work; the cycle in flight keeps going until it ends or is aborted. */
  async beginStop(): Promise<void> {
    this.#stopping = true;
    this.#agg.close();
    this.#retry.cancel();
    for (const t of [this.#periodTimer, this.#statusTimer]) if (t !== undefined) this.#clock.clearTimeout(t);
    this.#firstPassDone();
    await this.#watch.close();
  }

  /** Resolves once the cycle in flight has ended (its manifest saved) and status is written. */
  async stopped(): Promise<void> {
    await this.#running;
    // No pid: `status` must not point at a daemon that is gone.
    const { daemonPid: _gone, ...live } = this.#live();
    await this.#status.write(live, new Date(this.#clock.now()));
  }

  #onFlush(batch: FlushBatch): void {
    if (this.#stopping) return;
    if (batch.kind === 'full') this.#requestFull(batch.reason);
    else for (const p of batch.paths) this.#markDirty(p, batch.since);
    this.#kick();
  }

  #markDirty(p: string, since: number): void {
    this.#dirty.add(p);
    this.#dirtySince = Math.min(this.#dirtySince ?? since, since);
  }

  #requestFull(reason: string): void {
    this.#fullWanted ??= reason;
    this.#kick();
  }

  /** Single flight: at most one loop per pair; while the remote is down only a full pass (retry) runs. */
  #kick(): void {
    if (this.#running !== undefined || this.#stopping) return;
    if (this.#fullWanted === undefined && (this.#dirty.size === 0 || this.#remoteDown)) return;
    this.#collection?.busy();
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      this.#collection?.idle();
      this.#kick(); // work that arrived between the loop's last check and now
    });
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      const full = this.#fullWanted;
      if (full === undefined && (this.#dirty.size === 0 || this.#remoteDown)) return;
      // A full pass looks at every path, so it absorbs the dirty set.
      const scope = full === undefined ? new Set(this.#dirty) : undefined;
      const since = this.#dirtySince;
      this.#fullWanted = undefined;
      this.#dirty.clear();
      this.#dirtySince = undefined;
      await this.#cycle(scope, since, full);
    }
  }

  async #cycle(scope: Set<string> | undefined, since: number | undefined, fullReason: string | undefined): Promise<void> {
    const rt = this.#rt;
    const startedAt = new Date(this.#clock.now());
    const busy: Busy = { since, planned: 0, finished: 0 };
    this.#busy = busy;
    if (fullReason !== undefined) rt.log.info({ event: 'pass-start', reason: fullReason }, `full pass (${fullReason})`);
    let report: CycleReport | undefined;
    let error: string | undefined;
    try {
      report = await runCycle(rt, {
        ...(scope ? { scope } : {}),
        force: scope === undefined && this.#force,
        signal: this.#signal,
        expectEcho: (p) => this.#agg.expectEcho(p),
        onPlan: ({ files }) => (busy.planned = files),
        onProgress: (files) => (busy.finished += files),
      });
      if (scope === undefined) this.#force = false;
    } catch (e) {
      if (!this.#signal.aborted) error = describeError(e);
    }
    this.#busy = undefined;
    if (report !== undefined || error !== undefined) {
      this.#status.record({ startedAt, finishedAt: new Date(this.#clock.now()), ...(report ? { report } : {}), ...(error ? { error } : {}) }, scope === undefined);
      await this.#settle(scope, report, error);
    }
    if (scope === undefined) {
      this.#firstPassDone();
      this.#schedulePeriod();
    }
    await this.#status.write(this.#live(), new Date(this.#clock.now()));
  }

  /** Logs what a cycle came to and queues what must be looked at again. */
  async #settle(scope: Set<string> | undefined, report: CycleReport | undefined, error: string | undefined): Promise<void> {
    const log = this.#rt.log;
    if (report?.kind === 'guard' && report.verdict.guard === 'listing-failed') {
      // Logged when the outage starts; retried sooner than the period, as a full pass.
      if (!this.#remoteDown) log.warn({ event: 'remote-down', error: report.verdict.message }, `remote unreachable, retrying (nothing is treated as deleted): ${report.verdict.message}`);
      this.#remoteDown = true;
      this.#retry.schedule([], true);
      return;
    }
    if (error !== undefined || report?.kind === 'guard') {
      const message = report?.kind === 'guard' ? report.verdict.message : (error ?? '');
      // The same problem pass after pass is logged once; status shows it every time.
      if (message !== this.#lastProblem) {
        this.#lastProblem = message;
        if (report?.kind === 'guard') log.error({ event: 'guard', guard: report.verdict.guard, message }, `${message}; trying again at the next periodic pass`);
        else log.error({ event: 'pass-failed', error: message }, `pass failed: ${message}`);
      }
      // A tripped guard waits for the period (or --force); an unexpected failure is retried sooner.
      if (error !== undefined) this.#retry.schedule([], true);
      return;
    }
    if (report?.kind !== 'done') return;
    if (this.#remoteDown) log.info({ event: 'remote-up' }, 'remote reachable again');
    this.#remoteDown = false;
    // Only a full pass that went through shows a guard's condition is gone.
    if (scope === undefined) this.#lastProblem = undefined;
    const { counts } = report;
    if (scope === undefined || report.actions > 0) {
      log[scope === undefined ? 'info' : 'debug'](
        { event: scope === undefined ? 'pass' : 'cycle', ...counts, paths: scope?.size },
        `${scope === undefined ? 'full pass' : 'cycle'}: uploaded ${counts.uploaded}, downloaded ${counts.downloaded}, deleted ${counts.deleted}, moved ${counts.moved}, conflicts ${counts.conflicts}, failed ${counts.failed}`,
      );
    }
    const { again, failed } = await pathsToRecheck(report.results, this.#rt.pair.local, this.#rt.diskNames, this.#signal.aborted);
    for (const p of again) this.#agg.push({ path: p, removed: false });
    if (failed.length > 0) this.#retry.schedule(failed, false);
    else this.#retry.succeeded();
  }

  #schedulePeriod(): void {
    if (this.#stopping) return;
    if (this.#periodTimer !== undefined) this.#clock.clearTimeout(this.#periodTimer);
    const sec = this.#watch.degraded ? this.#watch.fallbackEverySec : this.#rt.pair.reconcileEverySec;
    this.#periodTimer = this.#clock.setTimeout(() => {
      this.#periodTimer = undefined;
      this.#requestFull('periodic');
    }, sec * 1000);
  }

  /** Rewrites status every few seconds while there is work, so `status` shows progress. */
  #tickStatus(): void {
    if (this.#stopping) return;
    this.#statusTimer = this.#clock.setTimeout(() => {
      const live = this.#live();
      const busy = this.#busy !== undefined || (live.pendingPaths ?? 0) > 0;
      if (busy) void this.#status.write(live, new Date(this.#clock.now()));
      this.#tickStatus();
    }, this.#statusEveryMs);
  }

  #live(): LiveFigures {
    const b = this.#busy;
    const left = b ? Math.max(0, b.planned - b.finished) : 0;
    // The transfer queue is shared by all pairs: this pair cannot have more in flight than it has left.
    const inFlight = Math.min(left, this.#rt.queue.pending);
    const times = [this.#agg.oldestPendingSince(), this.#dirtySince, left > 0 ? b?.since : undefined].filter((t): t is number => t !== undefined);
    return {
      pendingPaths: this.#agg.pendingCount() + this.#dirty.size + this.#retry.size + (left - inFlight),
      inFlight,
      ...(times.length > 0 ? { oldestUnsyncedMs: Math.min(...times) } : {}),
      daemonPid: process.pid,
      remoteDown: this.#remoteDown,
    };
  }
}
