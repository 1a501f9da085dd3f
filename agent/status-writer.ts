// The daemon's side of a pair's status file: the last pass's outcome plus live figures (pending
// paths, transfers in flight, oldest unsynced change), rewritten after every cycle and every few
// seconds while busy. Writes are serialised so an older snapshot never lands after a newer one.

import type { PairRuntime } from './pair.js';
import { readStatus, writeStatus, type PairStatus } from './status.js';
import { statusFromReport, type LiveFigures, type PassOutcome } from './status-report.js';
import { describeRemote } from '../providers/registry.js';

export class StatusWriter {
  readonly #rt: PairRuntime;
  #previous: PairStatus | undefined;
  #outcome: PassOutcome | undefined;
  /** A tripped guard stays in status until a full pass goes through, scoped cycles or not. */
  #guard: string | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(rt: PairRuntime) {
    this.#rt = rt;
  }

  /** Reads what an earlier run left, so status shows its last pass until this run's first one ends. */
  async load(): Promise<void> {
    this.#previous = await readStatus(this.#rt.stateDir, this.#rt.pair.name).catch(() => undefined);
  }

  /** Records a finished cycle (`full`: a full pass); the next write reports it as the last pass. */
  record(outcome: PassOutcome, full: boolean): void {
    this.#outcome = outcome;
    const r = outcome.report;
    if (r?.kind === 'guard' && r.verdict.guard !== 'listing-failed') this.#guard = r.verdict.message;
    else if (full && r?.kind === 'done') this.#guard = undefined;
  }

  /** Queues a write of the current status; never rejects (a status file is not worth a crash). */
  write(live: LiveFigures, now: Date): Promise<void> {
    const status = this.#build(live, now);
    this.#previous = status;
    this.#chain = this.#chain
      .then(() => writeStatus(this.#rt.stateDir, status))
      .catch((e: unknown) => {
        this.#rt.log.warn({ event: 'status-write-failed', error: String(e) }, `could not write the status file: ${String(e)}`);
      });
    return this.#chain;
  }

  /** Settles once every queued write has. */
  flushed(): Promise<void> {
    return this.#chain;
  }

  #build(live: LiveFigures, now: Date): PairStatus {
    const rt = this.#rt;
    if (this.#outcome !== undefined) {
      const status = statusFromReport(rt, this.#outcome, live, this.#previous);
      return { ...status, ...(this.#guard !== undefined ? { guard: this.#guard } : {}), updatedAt: now.toISOString() };
    }
    // Before this run's first pass ends: the previous run's last pass, today's live figures.
    const { guard: _guard, oldestUnsyncedMs: _oldest, remoteDown: _down, ...kept } = this.#previous ?? {
      pair: rt.pair.name,
      local: rt.pair.local,
      remote: describeRemote(rt.pair.remote),
      trackedFiles: 0,
      pendingPaths: 0,
      inFlight: 0,
      updatedAt: now.toISOString(),
    };
    return {
      ...kept,
      trackedFiles: rt.manifest.entries.size,
      pendingPaths: live.pendingPaths ?? 0,
      inFlight: live.inFlight ?? 0,
      ...(live.oldestUnsyncedMs !== undefined ? { oldestUnsyncedMs: live.oldestUnsyncedMs } : {}),
      ...(live.remoteDown !== undefined ? { remoteDown: live.remoteDown } : {}),
      ...(live.daemonPid !== undefined ? { daemonPid: live.daemonPid } : {}),
      updatedAt: now.toISOString(),
    };
  }
}
