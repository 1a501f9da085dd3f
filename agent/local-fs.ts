// Local side effects the executor needs: just-in-time re-stat, safe folder creation (never
// through a symlink), temp-file writes renamed into place, trash moves, and emptied-folder cleanup.

import { randomBytes } from 'node:crypto';
import { lstatSync, type Stats } from 'node:fs';
import { mkdir, rename, rm, rmdir, utimes, copyFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { LocalFile } from './types.js';
import { TEMP_PREFIX } from './paths.js';

export interface StatLike {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/**
 * lstat that returns undefined when the path does not exist. Synchronous, like the scanner's: the
 * executor stats before and after every transfer, and an fs/promises lstat costs several times
 * the syscall in thread-pool hops and promises (bench/results.md §12).
 */
export function lstatOrUndefined(file: string): Stats | undefined {
  try {
    // Undefined for ENOENT without building an error; ENOTDIR (a parent is a file) still throws.
    return lstatSync(file, { throwIfNoEntry: false });
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** lstatOrUndefined for the async callers. */
export const statOrUndefined = async (file: string): Promise<Stats | undefined> => lstatOrUndefined(file);

export const isMissing = (e: unknown): boolean =>
  (e as NodeJS.ErrnoException)?.code === 'ENOENT' || (e as NodeJS.ErrnoException)?.code === 'ENOTDIR';

export const sameStat = (a: StatLike, b: StatLike): boolean =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;

/**
 * Re-checks a local file against what the planner saw. Returns a reason when the world moved
 * (the action is then skipped and re-planned), undefined when it is as expected.
 */
export async function localMoved(file: string, expected: LocalFile | null): Promise<string | undefined> {
  const st = await statOrUndefined(file);
  if (expected === null) return st ? 'a local file appeared since the scan' : undefined;
  if (!st) return 'the local file disappeared since the scan';
  if (!st.isFile()) return 'the local path is no longer a regular file';
  return sameStat(st, expected) ? undefined : 'the local file changed since the scan';
}

/**
 * Creates the parent folders of `rel` under `root`, refusing to pass through a symlink or a file
 * (a download never writes through a link or outside the root).
 */
export async function ensureParentDirs(root: string, rel: string): Promise<void> {
  const segments = rel.split('/').slice(0, -1);
  let dir = root;
  for (const seg of segments) {
    dir = path.join(dir, seg);
    const st = await statOrUndefined(dir);
    if (st === undefined) {
      await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      continue;
    }
    if (st.isSymbolicLink()) throw new Error(`${path.relative(root, dir)} is a symlink: refusing to write through it`);
    if (!st.isDirectory()) throw new Error(`${path.relative(root, dir)} is a file where a folder is needed`);
  }
}

/** A fresh temp name beside `target`, ignored by the scanner, the watcher and the fs provider. */
export function tempBeside(target: string): string {
  return path.join(path.dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
}

export async function setMtime(file: string, mtimeMs: number): Promise<void> {
  const seconds = mtimeMs / 1000;
  await utimes(file, seconds, seconds);
}

export async function removeQuietly(file: string): Promise<void> {
  await rm(file, { force: true }).catch(() => undefined);
}

/**
 * Deletes the temp files a killed run left (a download writes `.sync-agent-tmp-*` and removes it
 * itself, but SIGKILL or a power cut skips that). Call at the start of a pass, under the pair's
 * lock: no transfer of the pair is in flight then, so every temp file is a leftover. `rels` are
 * on-disk paths relative to `root` (as the scanner meets them); a name that is not a temp name
 * is never touched. Returns how many were removed; one that cannot be is left (never an error).
 */
export async function removeLeftoverTemps(root: string, rels: readonly string[]): Promise<number> {
  let removed = 0;
  for (const rel of rels) {
    if (!path.basename(rel).startsWith(TEMP_PREFIX)) continue;
    // A leftover that cannot be removed is harmless (ignored everywhere): never fail a pass on it.
    if (await unlink(path.join(root, ...rel.split('/'))).then(() => true, () => false)) removed++;
  }
  return removed;
}

/** Moves a file, falling back to copy + unlink across devices (trash on another mount). */
export async function moveFile(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await copyFile(from, to);
    await unlink(from);
  }
}

/** Removes folders left empty by a delete, from `rel`'s parent up to (not including) the root. */
export async function removeEmptyParents(root: string, rel: string): Promise<void> {
  const segments = rel.split('/').slice(0, -1);
  while (segments.length > 0) {
    try {
      await rmdir(path.join(root, ...segments));
    } catch {
      return; // not empty (or gone): stop climbing
    }
    segments.pop();
  }
}

/** UTC `YYYYMMDD-HHMMSS`, the stamp of trash folders and conflict copies. */
export function passStamp(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}
