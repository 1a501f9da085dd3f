// One pass for one pair, the sole sequencer: scan local, list remote, plan, guard, execute,
// commit. The daemon's fast path (a few dirty paths) and full passes both come through here.

import { mkdir, readdir } from 'node:fs/promises';
import type { Action, ActionResult, BaseEntry, BaseSnapshot, LocalFile, Plan, RemoteObject, Skip, SyncPolicy } from './types.js';
import type { PairRuntime } from './pair.js';
import { plan as planActions } from './planner.js';
import { checkGuards, type GuardVerdict } from './safety.js';
import { hashLocalFiles, HashWhileListing, scanLocal, withHashes, type LocalScan } from './scanner.js';
import { buildRemoteSnapshot, inScope, RemoteSnapshotBuilder } from './paths.js';
import { execute } from './executor.js';
import { removeLeftoverTemps } from './local-fs.js';
import { applyResults } from '../state/manifest.js';
import { scopeBase } from './scoped-base.js';
import { describeError } from './executor.js';
import { listRemote, statRemote } from './remote-listing.js';
import { rememberAnswers } from './ignore.js';

export interface CycleOptions {
  /** Only these paths (and what lies under them); undefined = a full pass. */
  readonly scope?: ReadonlySet<string>;
  readonly dryRun?: boolean;
  /** Let the pass through an overridable safety guard, once. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /** Time of the pass (trash folders, conflict names). @default new Date() */
  readonly now?: Date;
  readonly expectEcho?: (path: string) => void;
  /** Called once the plan is known, with its totals (progress bars). */
  readonly onPlan?: (totals: { files: number; bytes: number }) => void;
  readonly onProgress?: (files: number, bytes: number) => void;
}

export interface CycleCounts {
  uploaded: number;
  downloaded: number;
  deleted: number;
  moved: number;
  conflicts: number;
  failed: number;
  stale: number;
  skipped: number;
}

export type CycleReport =
  | { readonly kind: 'guard'; readonly verdict: Extract<GuardVerdict, { ok: false }>; readonly skips: readonly Skip[] }
  | { readonly kind: 'dry-run'; readonly lines: readonly string[]; readonly skips: readonly Skip[] }
  | {
      readonly kind: 'done';
      readonly counts: CycleCounts;
      readonly failed: readonly Extract<ActionResult, { status: 'failed' }>[];
      readonly skips: readonly Skip[];
      readonly actions: number;
      /** Every action's result, in plan order (the daemon re-queues stale ones). */
      readonly results: readonly ActionResult[];
      /** Local files read to plan the pass (the scan's and the decisions'), transfers not included. */
      readonly hashed: { readonly files: number; readonly bytes: number };
    };

/** The dry-run line for an action (PRODUCT.md §4). */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'upload':
      return `upload ${a.path}`;
    case 'download':
      return `download ${a.path}`;
    case 'deleteRemote':
      return `delete-remote ${a.path}`;
    case 'deleteLocal':
      return `delete-local ${a.path}`;
    case 'moveRemote':
      return `move ${a.from} -> ${a.path}`;
    case 'conflict':
      return `conflict ${a.path}`;
  }
}

const under = (p: string, roots: readonly string[]): boolean => roots.some((b) => b === '' || p === b || p.startsWith(`${b}/`));

/**
 * Drops what lies under unreadable paths: missing is not deleted. The same map when nothing is
 * blind (the common case): copying three 100,000-entry maps per pass cost a no-op memory.
 */
function withoutBlind<V>(m: ReadonlyMap<string, V>, blind: readonly string[]): ReadonlyMap<string, V> {
  if (blind.length === 0) return m;
  return new Map([...m].filter(([p]) => !under(p, blind)));
}

/**
 * The scan's new (unhashed) files whose hash a decision of the planner reads: a path the remote
 * also holds (adopt when equal, else a conflict), or a possible rename target (same size as a
 * tracked file that vanished this pass: moves pair on size and hash). The rest are uploaded
 * unhashed and get their hash from the upload, so a first upload reads each file once.
 */
export function filesToHash(scan: LocalScan, remote: ReadonlyMap<string, RemoteObject>, base: BaseSnapshot, policy: SyncPolicy): LocalFile[] {
  if (scan.unhashed.length === 0) return [];
  // The planner pairs moves only under these conditions (planner.ts plan → pairMoves).
  const moves = policy.canMoveRemote && policy.deletes !== 'keep' && policy.direction !== 'pull';
  const vanishedSizes = new Set<number>();
  if (moves) for (const [p, e] of base) if (e.local && !scan.snapshot.has(p)) vanishedSizes.add(e.local.size);
  const need: LocalFile[] = [];
  for (const k of scan.unhashed) {
    const f = scan.snapshot.get(k);
    if (f && (remote.has(k) || vanishedSizes.has(f.size))) need.push(f);
  }
  return need;
}

function countResults(results: readonly ActionResult[], skips: number): CycleCounts {
  const c: CycleCounts = { uploaded: 0, downloaded: 0, deleted: 0, moved: 0, conflicts: 0, failed: 0, stale: 0, skipped: skips };
  for (const r of results) {
    if (r.status === 'failed') c.failed++;
    else if (r.status === 'stale') c.stale++;
    else {
      const k = r.action.kind;
      if (k === 'upload') c.uploaded++;
      else if (k === 'download') c.downloaded++;
      else if (k === 'deleteLocal' || k === 'deleteRemote') c.deleted++;
      else if (k === 'moveRemote') c.moved++;
      else if (k === 'conflict' && !r.note?.startsWith('same content')) c.conflicts++;
    }
  }
  return c;
}

const actionBytes = (a: Action): number =>
  a.kind === 'upload' ? a.local.size : a.kind === 'download' ? a.remote.size : a.kind === 'conflict' ? a.local.size + a.remote.size : 0;

export async function runCycle(rt: PairRuntime, opts: CycleOptions = {}): Promise<CycleReport> {
  const { pair, provider } = rt;
  const scope = opts.scope;
  // The manifest's map, never copied here: a full pass plans all of it, a scoped one its scope.
  const base = rt.manifest.entries;
  const { base: scopedBase, tracked, trackedRemote } = scopeBase(base, scope);

  // A first run may create the remote root (a new folder remote); later a missing root trips a guard.
  if (base.size === 0 && !opts.dryRun) await provider.createRoot?.();
  // One pass's answers, shared by the walk and the listing (they ask about the same keys).
  const ignore = rememberAnswers(rt.ignore);
  const scanning = scanLocal({
    root: pair.local,
    base,
    hashAlgo: rt.hashAlgo,
    ignore,
    symlinks: pair.symlinks,
    scope,
    signal: opts.signal,
  });
  // A full pass lists the bucket while the local walk runs (both mostly wait on I/O), and reads
  // the new files the listing shows as it goes; a scoped pass stats only the paths the walk
  // found, so it waits for the walk.
  const early = scope ? undefined : new HashWhileListing({ root: pair.local, hashAlgo: rt.hashAlgo, signal: opts.signal });
  const ignored = (p: string): boolean => ignore.ignores(p);
  // A full pass checks each page's keys as it arrives, while the next page is on its way.
  const remoteKeys = scope ? undefined : new RemoteSnapshotBuilder(ignored);
  const onPage = (page: readonly RemoteObject[]): void => {
    remoteKeys?.add(page);
    early?.listed(page);
  };
  const prefetched = scope ? undefined : rt.earlyListing;
  if (prefetched) rt.earlyListing = undefined;
  const listing = scope ? undefined : settle(prefetched ? prefetched.take(onPage, opts.signal) : listRemote(rt, opts.signal, onPage));
  let scan = await scanning;
  early?.scanned(scan);
  for (const [k, disk] of scan.diskNames) rt.diskNames.set(k, disk);

  const listed = listing ? await listing : await settle(statRemote(rt, new Set([...(scope ?? []), ...scan.snapshot.keys(), ...scopedBase.keys()])));
  const listingComplete = listed.ok;
  const listingError = listed.ok ? undefined : describeError(listed.error);
  // A failed listing plans from nothing (the guard stops the pass), not from the pages it got.
  const paged = listed.ok ? remoteKeys : undefined;
  const remote = paged ? paged.build() : buildRemoteSnapshot(listed.ok ? listed.value : []);
  if (!scope) rt.rawKeys = remote.rawKeys;
  else for (const [p, k] of remote.rawKeys) rt.rawKeys.set(p, k);

  // remote.snapshot is this pass's own map: trimmed in place rather than copied (deleting the
  // entry being visited is safe in a Map iteration).
  const remoteSnap = remote.snapshot;
  if (paged) for (const p of paged.ignored) remoteSnap.delete(p);
  else for (const p of remoteSnap.keys()) if (ignored(p) || !inScope(p, scope)) remoteSnap.delete(p);
  const remoteSkips = remote.skips.filter((s) => !ignored(s.path));
  let skips: Skip[] = [...scan.skips, ...remoteSkips];

  const localCount = scope ? (scan.rootExists ? await rootEntryCount(pair.local) : 0) : scan.snapshot.size;
  const verdict = checkGuards({
    tracked,
    trackedRemote,
    localRootExists: scan.rootExists,
    localCount,
    remoteCount: scope ? Math.max(1, remoteSnap.size) : remoteSnap.size,
    listingComplete,
    actions: [],
    maxDeletePercent: pair.maxDeletePercent,
    force: opts.force ?? false,
  });
  if (!verdict.ok) {
    early?.stop();
    return { kind: 'guard', verdict: listingError ? { ...verdict, message: `${verdict.message} (${listingError})` } : verdict, skips };
  }

  // The new files a decision reads: most were read while the listing came in, the rest now.
  const walked = scan;
  if (early) scan = await early.into(scan);
  const policy: SyncPolicy = { direction: pair.direction, deletes: pair.deletes, canMoveRemote: provider.move !== undefined || provider.copy !== undefined };
  const toHash = filesToHash(scan, remoteSnap, scopedBase, policy);
  if (toHash.length > 0) scan = withHashes(scan, await hashLocalFiles({ root: pair.local, hashAlgo: rt.hashAlgo, signal: opts.signal, diskNames: scan.diskNames }, toHash));
  if (scan.skips !== walked.skips) skips = [...scan.skips, ...remoteSkips];

  // Unreadable local paths and ambiguous remote keys (twins, clashes) are never planned: missing is not deleted.
  const blind = [...scan.blind, ...remote.blind];
  const thePlan: Plan = planActions(withoutBlind(scopedBase, blind), withoutBlind(scan.snapshot, blind), withoutBlind(remoteSnap, blind), policy, scope);

  const deleteVerdict = checkGuards({
    tracked,
    trackedRemote,
    localRootExists: true,
    localCount: Math.max(1, localCount),
    remoteCount: Math.max(1, remoteSnap.size),
    listingComplete: true,
    actions: thePlan.actions,
    maxDeletePercent: pair.maxDeletePercent,
    force: opts.force ?? false,
  });
  if (!deleteVerdict.ok) return { kind: 'guard', verdict: deleteVerdict, skips };

  if (opts.dryRun) {
    return { kind: 'dry-run', lines: [...thePlan.actions.map(describeAction), ...skips.map((s) => `skip ${s.path}: ${s.reason}`)], skips };
  }

  const removed = await removeLeftoverTemps(pair.local, scan.temps);
  if (removed > 0) rt.log.info({ event: 'temps-removed', count: removed }, `removed ${removed} temp file(s) left by an interrupted run`);
  if (!scan.rootExists) await mkdir(pair.local, { recursive: true }); // first run only: the guard refused otherwise
  opts.onPlan?.({ files: thePlan.actions.length, bytes: thePlan.actions.reduce((n, a) => n + actionBytes(a), 0) });
  const passTime = opts.now ?? new Date();
  const results = await execute(thePlan.actions, {
    pair: pair.name,
    root: pair.local,
    stateDir: rt.stateDir,
    provider,
    hashAlgo: rt.hashAlgo,
    deletes: pair.deletes,
    queue: rt.queue,
    log: rt.log,
    passTime,
    rawKeys: rt.rawKeys,
    diskNames: rt.diskNames,
    expectEcho: opts.expectEcho,
    onProgress: opts.onProgress,
    signal: opts.signal,
    retries: rt.retries,
    retryMinMs: rt.retryMinMs,
  });
  rt.manifest = applyResults(rt.manifest, thePlan.baseUpdates as ReadonlyMap<string, BaseEntry | null>, results);
  await rt.store.save(rt.manifest);
  const failed = results.filter((r): r is Extract<ActionResult, { status: 'failed' }> => r.status === 'failed');
  const hashed = { files: scan.hashedFiles, bytes: scan.hashedBytes };
  return { kind: 'done', counts: countResults(results, skips.length), failed, skips, actions: thePlan.actions.length, results, hashed };
}

/** A promise's outcome as a value, so a listing started early never rejects unobserved. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

async function rootEntryCount(root: string): Promise<number> {
  try {
    return (await readdir(root)).length;
  } catch {
    return 0;
  }
}
