// Pure safety guards, checked on the whole plan before anything changes (PRODUCT.md §4).
// They catch the cases where "missing" most likely means "not mounted / wrong bucket / failed",
// not "deleted by the user": then a pass stops (exit 3) and the manifest stays untouched.

import type { Action } from './types.js';

export const GUARDS = [
  'listing-failed',
  'local-root-missing',
  'local-empty',
  'remote-empty',
  'too-many-deletes',
] as const;
export type GuardName = (typeof GUARDS)[number];

export interface GuardInput {
  /** Manifest entries with a local side. */
  readonly tracked: number;
  /** Manifest entries with a remote side. */
  readonly trackedRemote: number;
  readonly localRootExists: boolean;
  /** Files the local scan found (in the planned scope). */
  readonly localCount: number;
  /** Objects the remote listing found (in the planned scope). */
  readonly remoteCount: number;
  /** false when any listing page failed: a partial listing must never look like deletes. */
  readonly listingComplete: boolean;
  readonly actions: readonly Action[];
  /** Percent of the tracked files one pass may delete on one side (PairConfig.maxDeletePercent). */
  readonly maxDeletePercent: number;
  /** --force: lets the overridable guards through, once. */
  readonly force: boolean;
  /** For messages: the local folder. @default 'the local folder' */
  readonly localRoot?: string;
  /** For messages: the remote, e.g. `s3://bucket/prefix`. @default 'the remote' */
  readonly remoteLabel?: string;
}

export type GuardVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly guard: GuardName;
      /** What happened and what to do, for the user. */
      readonly message: string;
      /** Whether --force lets this guard through. */
      readonly overridable: boolean;
    };

export interface DeleteCounts {
  readonly local: number;
  readonly remote: number;
}

/** Deletes per side. Moves do not count (nothing is lost); trash deletes do. */
export function countDeletes(actions: readonly Action[]): DeleteCounts {
  let local = 0;
  let remote = 0;
  for (const a of actions) {
    if (a.kind === 'deleteLocal') local++;
    else if (a.kind === 'deleteRemote') remote++;
  }
  return { local, remote };
}

const n = (count: number): string => count.toLocaleString('en-US');
const files = (count: number): string => `${n(count)} file${count === 1 ? '' : 's'}`;
const FORCE_HINT = 'run with --force if this is intended';

/** The first guard that stops this pass, or ok. Order: the non-overridable one first. */
export function checkGuards(input: GuardInput): GuardVerdict {
  const local = input.localRoot === undefined ? 'the local folder' : `the local folder ${input.localRoot}`;
  const remote = input.remoteLabel ?? 'the remote';

  if (!input.listingComplete) {
    return {
      ok: false,
      guard: 'listing-failed',
      overridable: false,
      message:
        `the listing of ${remote} did not complete, so a missing file cannot be told from a deleted one; ` +
        'nothing was changed. Check the network, the credentials and the permissions, then run again ' +
        '(--force does not override this)',
    };
  }

  const stop = (guard: GuardName, message: string): GuardVerdict =>
    input.force ? { ok: true } : { ok: false, guard, message, overridable: true };

  if (input.tracked > 0 && !input.localRootExists) {
    return stop(
      'local-root-missing',
      `${local} does not exist but the manifest tracks ${files(input.tracked)}: is the disk mounted? ${FORCE_HINT}`,
    );
  }
  if (input.tracked > 0 && input.localCount === 0) {
    return stop(
      'local-empty',
      `${local} is empty but the manifest tracks ${files(input.tracked)}: is the disk mounted? ${FORCE_HINT}`,
    );
  }
  if (input.trackedRemote > 0 && input.remoteCount === 0) {
    return stop(
      'remote-empty',
      `${remote} lists no objects but the manifest tracks ${files(input.trackedRemote)} there: ` +
        `are the bucket, prefix and credentials right? ${FORCE_HINT}`,
    );
  }

  const deletes = countDeletes(input.actions);
  const sides = [
    { count: deletes.local, tracked: input.tracked, where: local },
    { count: deletes.remote, tracked: input.trackedRemote, where: remote },
  ];
  for (const { count, tracked, where } of sides) {
    // Integer-safe form of count / tracked > maxDeletePercent / 100; two deletes at least, so a
    // pair that tracks one or two files can still delete one.
    if (count >= 2 && count * 100 > input.maxDeletePercent * tracked) {
      const pct = tracked === 0 ? 100 : Math.round((count * 100) / tracked);
      return stop(
        'too-many-deletes',
        `this pass would delete ${files(count)} in ${where}, ${pct}% of the ${files(tracked)} the manifest ` +
          `tracks there (maxDeletePercent is ${input.maxDeletePercent}%): check nothing is missing, ` +
          `then ${FORCE_HINT} or raise maxDeletePercent`,
      );
    }
  }
  return { ok: true };
}
