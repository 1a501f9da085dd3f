// Pure: how one side of one path moved since the base both sides agreed on. No I/O, no clock.
// Decisions compare content (hashes, opaque tokens), never timestamps: a `touch` is not a change.

import type { LocalBase, LocalFile, RemoteBase, RemoteObject } from './types.js';

/**
 * - `unchanged`: same content as the base.
 * - `changed`: present in the base, different content now.
 * - `created`: not in the base (new path, or recreated after a remembered delete).
 * - `deleted`: in the base, gone now.
 * - `absent`: not in the base and not here (a delete remembered under deletes=keep, or nothing).
 */
export type SideState = 'unchanged' | 'changed' | 'created' | 'deleted' | 'absent';

export interface LocalVerdict {
  readonly state: SideState;
  /** Set when the content is unchanged but the stat moved: a record-only base refresh. */
  readonly refresh?: LocalBase;
}

export interface RemoteVerdict {
  readonly state: SideState;
  /** Set when the token changed but the known hash did not: a record-only base refresh. */
  readonly refresh?: RemoteBase;
}

/** The base a local file would leave behind; undefined while its hash is unknown. */
export function localBaseOf(file: LocalFile): LocalBase | undefined {
  if (file.hash === undefined) return undefined;
  return { size: file.size, mtimeMs: file.mtimeMs, ino: file.ino, hash: file.hash };
}

/** The base a remote object leaves behind. */
export function remoteBaseOf(obj: RemoteObject): RemoteBase {
  return obj.hash === undefined
    ? { token: obj.token, size: obj.size }
    : { token: obj.token, size: obj.size, hash: obj.hash };
}

const sameStat = (a: LocalBase, f: LocalFile): boolean =>
  a.size === f.size && a.mtimeMs === f.mtimeMs && a.ino === f.ino;

/**
 * Classifies the local side. `hadEntry` with an undefined `base` means the entry exists but its
 * local side is absent on purpose (deletes=keep remembered a delete).
 */
export function classifyLocal(
  base: LocalBase | undefined,
  hadEntry: boolean,
  file: LocalFile | undefined,
): LocalVerdict {
  if (base === undefined) {
    // No local base: the file is new to us, or absent as agreed. `hadEntry` only tells the two
    // "absent" cases apart for the planner; the verdict is the same.
    return { state: file === undefined ? 'absent' : 'created' };
  }
  if (file === undefined) return { state: 'deleted' };
  if (file.hash === undefined) {
    // The scanner always hashes suspects; without a hash only an identical stat proves "unchanged".
    return { state: sameStat(base, file) ? 'unchanged' : 'changed' };
  }
  if (file.hash !== base.hash || file.size !== base.size) return { state: 'changed' };
  if (sameStat(base, file)) return { state: 'unchanged' };
  return { state: 'unchanged', refresh: { size: file.size, mtimeMs: file.mtimeMs, ino: file.ino, hash: file.hash } };
}

/** Classifies the remote side. Tokens are opaque: equal token = same version, nothing else. */
export function classifyRemote(
  base: RemoteBase | undefined,
  hadEntry: boolean,
  obj: RemoteObject | undefined,
): RemoteVerdict {
  if (base === undefined) {
    return { state: obj === undefined ? 'absent' : 'created' };
  }
  if (obj === undefined) return { state: 'deleted' };
  if (obj.token === base.token) return { state: 'unchanged' };
  // A rewrite of the same bytes (re-upload, server-side copy) gets a new token but keeps its hash.
  if (obj.hash !== undefined && base.hash !== undefined && obj.hash === base.hash && obj.size === base.size) {
    return { state: 'unchanged', refresh: remoteBaseOf(obj) };
  }
  return { state: 'changed' };
}

/**
 * Whether a local file and a remote object hold the same bytes, when that can be decided without
 * a transfer: true/false when decidable, undefined when only a content comparison can tell.
 */
export function sameContent(local: LocalFile, remote: RemoteObject): boolean | undefined {
  if (local.size !== remote.size) return false;
  if (remote.hash === undefined || local.hash === undefined) return undefined;
  return local.hash === remote.hash;
}
