// Pure: who keeps the name in a conflict, and what the other version is renamed to.
// `<stem>.sync-conflict-<YYYYMMDD-HHMMSS>-<local|remote>[-N]<.ext>` in the same folder (Syncthing's
// scheme, with the side instead of a device id). No I/O, no clock: the pass time is passed in.

import type { LocalFile, RemoteObject } from './types.js';

export type ConflictSide = 'local' | 'remote';

/** The marker every conflict copy carries in its name. */
export const CONFLICT_MARKER = '.sync-conflict-';

/**
 * Tries before conflictName gives up. A caller's `taken` that answers true this often is broken.
 * @default 100_000
 */
export const MAX_CONFLICT_SUFFIX = 100_000;

/**
 * The side whose version keeps the name: the newer modification time wins. The remote time is
 * the mtime the agent stored in metadata, else the upload time; a tie or an unknown time goes
 * to local, so the user's working copy stays where they left it.
 */
export function conflictWinner(local: LocalFile, remote: RemoteObject): ConflictSide {
  const remoteTime = remote.mtimeMs ?? remote.uploadedMs;
  return remoteTime !== undefined && remoteTime > local.mtimeMs ? 'remote' : 'local';
}

/** `YYYYMMDD-HHMMSS` in UTC. */
export function conflictStamp(passTime: Date): string {
  if (Number.isNaN(passTime.getTime())) throw new RangeError('conflictStamp: invalid pass time');
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const d = passTime;
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  );
}

/**
 * Splits a file name into stem and last extension. Leading dots belong to the stem, so a
 * dotfile such as `.bashrc` has no extension; `archive.tar.gz` → `archive.tar` + `.gz`.
 */
export function splitExtension(name: string): { stem: string; ext: string } {
  const leading = name.length - name.replace(/^\.+/, '').length;
  const dot = name.lastIndexOf('.');
  // Only leading dots, or a trailing dot ("notes."): no extension.
  if (dot < leading || dot === name.length - 1) {
    return { stem: name, ext: '' };
  }
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

/**
 * The name the losing version of `path` gets, in the same folder, never one `taken` reports as
 * used. `side` is the side whose version is renamed. `-2`, `-3`… go before the extension.
 * Throws only if `taken` answers true MAX_CONFLICT_SUFFIX times in a row.
 */
export function conflictName(
  path: string,
  passTime: Date,
  side: ConflictSide,
  taken: (p: string) => boolean,
): string {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash + 1);
  const { stem, ext } = splitExtension(path.slice(slash + 1));
  const head = `${dir}${stem}${CONFLICT_MARKER}${conflictStamp(passTime)}-${side}`;
  for (let n = 1; n <= MAX_CONFLICT_SUFFIX; n++) {
    const candidate = n === 1 ? `${head}${ext}` : `${head}-${n}${ext}`;
    if (!taken(candidate)) return candidate;
  }
  throw new Error(`conflictName: no free conflict name for ${path} after ${MAX_CONFLICT_SUFFIX} tries`);
}

const CONFLICT_RE = /\.sync-conflict-\d{8}-\d{6}-(?:local|remote)(?:-\d+)?(?:\.[^./]+)?$/;

/** Whether `path` names a conflict copy made by conflictName. */
export function isConflictCopy(path: string): boolean {
  return CONFLICT_RE.test(path.slice(path.lastIndexOf('/') + 1));
}
