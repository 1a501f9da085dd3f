// The trash (deletes: "trash"): finding trashed versions on both sides and bringing one back.
// Remote versions live at `.sync-agent-trash/<stamp>/<path>` under the prefix, local ones at
// `<stateDir>/trash/<pair>/<stamp>/<path>`. A restore puts a version back at its place (or at
// `to`) on its own side and never overwrites anything there; the next pass syncs it across.

import { copyFile, link, lstat, readdir, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { RemoteProvider } from '../providers/provider.js';
import { checkRemoteKey, decodeLocalName, keyToLocalPath, TRASH_DIR } from './paths.js';
import { ensureParentDirs, removeEmptyParents, removeQuietly, statOrUndefined, tempBeside } from './local-fs.js';

export type TrashSide = 'local' | 'remote';

export interface TrashedVersion {
  readonly pair: string;
  readonly side: TrashSide;
  /**
   * UTC `YYYYMMDD-HHMMSS` of the pass that trashed it; `-2`, `-3`… follow when that folder
   * already held the path (two trashes of one path within a second).
   */
  readonly stamp: string;
  /** The sync key it had (and is restored to by default). */
  readonly path: string;
  readonly size: number;
  /** Where it is now: the absolute local file, or the remote key relative to the prefix. */
  readonly location: string;
}

const STAMP = /^(\d{8}-\d{6})(?:-(\d+))?$/;

export const isStamp = (s: string): boolean => STAMP.test(s);

/** Orders stamps oldest first (`-N` suffixes after their base, numerically). */
export function compareStamps(a: string, b: string): number {
  const ma = STAMP.exec(a);
  const mb = STAMP.exec(b);
  const baseA = ma?.[1] ?? a;
  const baseB = mb?.[1] ?? b;
  if (baseA !== baseB) return baseA < baseB ? -1 : 1;
  return Number(ma?.[2] ?? 1) - Number(mb?.[2] ?? 1);
}

/** `.sync-agent-trash/<stamp>/<path>` -> stamp and path; undefined for anything else or unsafe. */
export function parseRemoteTrashKey(key: string, size: number): { stamp: string; path: string } | undefined {
  const parts = key.split('/');
  if (parts.length < 3 || parts[0] !== TRASH_DIR || !isStamp(parts[1] ?? '')) return undefined;
  const checked = checkRemoteKey(parts.slice(2).join('/'), size);
  return checked.ok ? { stamp: parts[1] as string, path: checked.path } : undefined;
}

/** The trashed versions in the remote trash (one full listing). */
export async function listRemoteTrash(pair: string, provider: RemoteProvider, signal?: AbortSignal): Promise<TrashedVersion[]> {
  const found: TrashedVersion[] = [];
  for await (const page of provider.list(signal)) {
    for (const o of page) {
      const parsed = parseRemoteTrashKey(o.path, o.size);
      if (parsed) found.push({ pair, side: 'remote', ...parsed, size: o.size, location: o.path });
    }
  }
  return found;
}

export const localTrashRoot = (stateDir: string, pair: string): string => path.join(stateDir, 'trash', pair);

/** The trashed versions under `<stateDir>/trash/<pair>/`; none when the folder does not exist. */
export async function listLocalTrash(pair: string, stateDir: string): Promise<TrashedVersion[]> {
  const root = localTrashRoot(stateDir, pair);
  const found: TrashedVersion[] = [];
  const walk = async (dir: string, stamp: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
      const name = decodeLocalName(e.name);
      if (!name.ok) continue; // the agent never trashes such names: not ours
      const p = rel ? `${rel}/${name.key}` : name.key;
      const full = path.join(dir, name.name);
      if (e.isDirectory()) await walk(full, stamp, p);
      else if (e.isFile()) found.push({ pair, side: 'local', stamp, path: p, size: (await lstat(full)).size, location: full });
    }
  };
  let stamps: string[];
  try {
    stamps = await readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  for (const stamp of stamps.filter(isStamp)) await walk(path.join(root, stamp), stamp, '');
  return found;
}

/** Sorts for display: pair, path, then oldest to newest. */
export function sortVersions(versions: readonly TrashedVersion[]): TrashedVersion[] {
  return [...versions].sort((a, b) =>
    a.pair !== b.pair ? (a.pair < b.pair ? -1 : 1) : a.path !== b.path ? (a.path < b.path ? -1 : 1) : compareStamps(a.stamp, b.stamp) || (a.side < b.side ? -1 : 1),
  );
}

export interface PickOptions {
  /** Only the version trashed at this stamp. @default the newest */
  readonly from?: string;
  /** Only this side's trash. @default both */
  readonly side?: TrashSide;
}

/** Why a restore did not happen, as a value the command turns into a message and exit code. */
export type RestoreProblem =
  | { readonly kind: 'not-found'; readonly message: string }
  | { readonly kind: 'ambiguous'; readonly message: string }
  | { readonly kind: 'exists'; readonly message: string }
  /** The local folder is missing (unmounted?): nothing is created under its mount point. */
  | { readonly kind: 'no-root'; readonly message: string }
  | { readonly kind: 'unsafe'; readonly message: string };

/** The version of `p` to restore: the newest (or the one at `from`), on one side. */
export function pickVersion(versions: readonly TrashedVersion[], p: string, opts: PickOptions = {}): TrashedVersion | RestoreProblem {
  const key = p.normalize('NFC').replace(/^\/+/, '');
  const mine = versions.filter((v) => v.path === key && (opts.side === undefined || v.side === opts.side));
  const at = opts.from === undefined ? mine : mine.filter((v) => v.stamp === opts.from);
  if (at.length === 0) {
    const stamps = mine.map((v) => `${v.side} ${v.stamp}`).join(', ');
    const more = opts.from !== undefined && stamps ? ` (trashed versions: ${stamps})` : '';
    return { kind: 'not-found', message: `no trashed version of ${key}${opts.from ? ` at ${opts.from}` : ''}${opts.side ? ` in the ${opts.side} trash` : ''}${more}; see \`sync-agent trash list\`` };
  }
  const sorted = [...at].sort((a, b) => compareStamps(a.stamp, b.stamp));
  const newest = sorted[sorted.length - 1] as TrashedVersion;
  const twin = sorted.find((v) => v !== newest && v.stamp === newest.stamp);
  if (twin) {
    return { kind: 'ambiguous', message: `${key} was trashed at ${newest.stamp} on both sides; choose one with --side local or --side remote` };
  }
  return newest;
}

/**
 * Puts `v` back at `to` (default: its own path) on its own side. Refuses when something already
 * exists there: the restore never overwrites. Returns the problem, or undefined when restored.
 */
export async function restoreVersion(v: TrashedVersion, where: { root: string; provider: RemoteProvider; stateDir: string }, to = v.path): Promise<RestoreProblem | undefined> {
  const dest = checkRemoteKey(to.normalize('NFC').replace(/^\/+/, ''), 1);
  if (!dest.ok) return { kind: 'unsafe', message: `cannot restore to ${JSON.stringify(to)}: ${dest.marker ? 'not a file name' : dest.reason}` };
  const taken = (side: string): RestoreProblem => ({
    kind: 'exists',
    message: `${dest.path} already exists ${side}; nothing was overwritten. Restore it under another name with --to <path>, or move the current file away first`,
  });
  if (v.side === 'remote') {
    if ((await where.provider.stat(dest.path)) !== undefined) return taken('on the remote');
    if (!where.provider.copy) throw new Error(`${where.provider.features.name} cannot copy server-side: restore by hand from ${v.location}`);
    await where.provider.copy(v.location, dest.path);
    await where.provider.delete(v.location);
    return undefined;
  }
  const target = keyToLocalPath(where.root, dest.path);
  if ((await statOrUndefined(where.root)) === undefined) return { kind: 'no-root', message: `the local folder ${where.root} does not exist: is the disk mounted?` };
  if ((await statOrUndefined(target)) !== undefined) return taken('in the local folder');
  await ensureParentDirs(where.root, dest.path);
  if (!(await placeWithoutOverwrite(v.location, target))) return taken('in the local folder');
  await unlink(v.location);
  const trashRoot = localTrashRoot(where.stateDir, v.pair);
  await removeEmptyParents(trashRoot, path.relative(trashRoot, v.location).split(path.sep).join('/'));
  return undefined;
}

/**
 * Makes `from`'s bytes appear at `target` only if nothing is there: a hard link fails on an
 * existing name (unlike rename). Across devices, a temp copy beside the target is linked instead,
 * so a reader never sees a partial file. Returns false when the target appeared meanwhile.
 */
async function placeWithoutOverwrite(from: string, target: string): Promise<boolean> {
  const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;
  try {
    await link(from, target);
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    if (code(e) !== 'EXDEV' && code(e) !== 'EPERM') throw e;
  }
  const temp = tempBeside(target);
  try {
    await copyFile(from, temp);
    const st = await lstat(from);
    await utimes(temp, st.atime, st.mtime);
    await link(temp, target);
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    throw e;
  } finally {
    await removeQuietly(temp);
  }
}
