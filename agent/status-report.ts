// Turns a pass's outcome into the pair's status record (what `sync-agent status` shows).

import type { PairRuntime } from './pair.js';
import type { CycleReport } from './cycle.js';
import type { PairStatus } from './status.js';
import { describeRemote } from '../providers/registry.js';

export interface PassOutcome {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly report?: CycleReport;
  readonly error?: string;
}

/** Extra live figures the daemon knows (pending paths, in-flight transfers). */
export interface LiveFigures {
  readonly pendingPaths?: number;
  readonly inFlight?: number;
  readonly oldestUnsyncedMs?: number;
  readonly daemonPid?: number;
  readonly remoteDown?: boolean;
}

export function statusFromReport(rt: PairRuntime, o: PassOutcome, live: LiveFigures = {}, previous?: PairStatus): PairStatus {
  const r = o.report;
  const counts = r?.kind === 'done' ? r.counts : undefined;
  const result: NonNullable<PairStatus['lastPass']>['result'] = o.error ? 'error' : r?.kind === 'guard' ? 'guard' : counts && counts.failed > 0 ? 'failed' : 'ok';
  const firstFailure = r?.kind === 'done' ? r.failed[0] : undefined;
  const lastErrorMessage = o.error ?? (r?.kind === 'guard' ? r.verdict.message : firstFailure ? `${firstFailure.action.kind} ${firstFailure.action.path}: ${firstFailure.error}` : undefined);
  const lastError = lastErrorMessage ? { at: o.finishedAt.toISOString(), message: lastErrorMessage } : previous?.lastError;
  return {
    pair: rt.pair.name,
    local: rt.pair.local,
    remote: describeRemote(rt.pair.remote),
    trackedFiles: rt.manifest.entries.size,
    pendingPaths: live.pendingPaths ?? 0,
    inFlight: live.inFlight ?? 0,
    lastPass: {
      startedAt: o.startedAt.toISOString(),
      finishedAt: o.finishedAt.toISOString(),
      result,
      uploaded: counts?.uploaded ?? 0,
      downloaded: counts?.downloaded ?? 0,
      deleted: counts?.deleted ?? 0,
      conflicts: counts?.conflicts ?? 0,
      failed: counts?.failed ?? 0,
      skipped: r?.skips.length ?? 0,
    },
    ...(lastError ? { lastError } : {}),
    ...(r?.kind === 'guard' ? { guard: r.verdict.message } : {}),
    ...(live.oldestUnsyncedMs !== undefined ? { oldestUnsyncedMs: live.oldestUnsyncedMs } : {}),
    ...(r && r.skips.length > 0 ? { skips: r.skips.slice(0, 100).map((s) => ({ path: s.path, reason: s.reason })) } : {}),
    ...(live.remoteDown !== undefined ? { remoteDown: live.remoteDown } : {}),
    ...(live.daemonPid !== undefined ? { daemonPid: live.daemonPid } : {}),
    ...(rt.recovered ? { manifestRecovered: rt.recovered } : {}),
    updatedAt: o.finishedAt.toISOString(),
  };
}
