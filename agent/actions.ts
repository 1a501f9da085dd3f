// One handler per action kind. Each re-checks the world just before it overwrites or deletes
// (skipping as 'stale' when it moved), then reports the base entries that really resulted.

import { lstat, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { RemoteObject, Action, BaseEntry, LocalFile, LocalBase, RemoteBase } from './types.js';
import type { ExecutorContext, Outcome } from './executor.js';
import { hashFile } from './hasher.js';
import { keyToLocalPath, TRASH_DIR } from './paths.js';
import {
  ensureParentDirs,
  localMoved,
  moveFile,
  passStamp,
  removeEmptyParents,
  removeQuietly,
  sameStat,
  setMtime,
  statOrUndefined,
  tempBeside,
} from './local-fs.js';
import { resolveConflict } from './conflict-action.js';
import { isProviderError, type UploadedObject, type WritePrecondition } from '../providers/provider.js';

/** The key to call the provider with (the raw listed key when it differs from the NFC path). */
export const remoteKey = (ctx: ExecutorContext, p: string): string => ctx.rawKeys.get(p) ?? p;
/** The absolute local file for a sync path (its real on-disk name when that differs). */
export const localFile = (ctx: ExecutorContext, p: string): string => keyToLocalPath(ctx.root, ctx.diskNames.get(p) ?? p);

export const remoteBase = (o: RemoteObject): RemoteBase => ({ token: o.token, size: o.size, ...(o.hash ? { hash: o.hash } : {}) });
export const localBase = (f: LocalFile, hash: string): LocalBase => ({ size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, hash });

const stale = (reason: string): Outcome => ({ status: 'stale', reason });
const done = (updates: Map<string, BaseEntry | null>, bytes: number, note?: string): Outcome => ({ status: 'done', updates, bytes, ...(note ? { note } : {}) });

/** Re-checks the remote against what the planner saw; a reason when it moved. */
export async function remoteMoved(ctx: ExecutorContext, p: string, expected: RemoteObject | null): Promise<string | undefined> {
  const now = await ctx.provider.stat(remoteKey(ctx, p));
  if (expected === null) return now ? 'a remote object appeared since the listing' : undefined;
  if (!now) return 'the remote object disappeared since the listing';
  return now.token === expected.token ? undefined : 'the remote object changed since the listing';
}

/** Most `-N` stamp folders tried for one path before trashing fails. @default 1000 */
const MAX_TRASH_SUFFIX = 1000;

/**
 * The first trash stamp folder (`<stamp>`, then `<stamp>-2`, `-3`…) where `p` is free: two
 * trashes of one path within a second (fast passes) must not overwrite the first version.
 */
async function freeTrashStamp(ctx: ExecutorContext, p: string, taken: (stamp: string) => Promise<boolean>): Promise<string> {
  const stamp = passStamp(ctx.passTime);
  for (let n = 1; n <= MAX_TRASH_SUFFIX; n++) {
    const candidate = n === 1 ? stamp : `${stamp}-${n}`;
    if (!(await taken(candidate))) return candidate;
  }
  throw new Error(`no free trash folder for ${p} at ${stamp}: empty the trash`);
}

/** Server-side copy of the current remote version into the remote trash (deletes: trash). */
export async function trashRemote(ctx: ExecutorContext, p: string): Promise<string> {
  const copy = ctx.provider.copy?.bind(ctx.provider);
  if (!copy) throw new Error(`${ctx.provider.features.name} cannot copy server-side: trash is unavailable`);
  const stamp = await freeTrashStamp(ctx, p, async (s) => (await ctx.provider.stat(`${TRASH_DIR}/${s}/${p}`)) !== undefined);
  const dest = `${TRASH_DIR}/${stamp}/${p}`;
  await copy(remoteKey(ctx, p), dest);
  return dest;
}

/** Moves a local file into `<stateDir>/trash/<pair>/<stamp>/<path>`. */
export async function trashLocal(ctx: ExecutorContext, p: string): Promise<string> {
  const at = (stamp: string): string => path.join(ctx.stateDir, 'trash', ctx.pair, stamp, ...p.split('/'));
  const dest = at(await freeTrashStamp(ctx, p, async (s) => (await statOrUndefined(at(s))) !== undefined));
  ctx.expectEcho?.(p);
  await moveFile(localFile(ctx, p), dest);
  return dest;
}

/**
 * Downloads `p` into a temp file beside the target, sets its mtime, re-checks the target, then
 * renames into place: a reader never sees a partial file. Returns the new base of both sides.
 */
export async function downloadInto(
  ctx: ExecutorContext,
  p: string,
  targetRel: string,
  expectLocal: LocalFile | null,
  opts: { trashOverwritten: boolean },
): Promise<{ entry: BaseEntry; bytes: number } | { stale: string }> {
  await ensureParentDirs(ctx.root, targetRel);
  const target = keyToLocalPath(ctx.root, targetRel);
  const temp = tempBeside(target);
  try {
    const got = await ctx.provider.download(remoteKey(ctx, p), temp, { signal: ctx.signal });
    const hash = got.hash && ctx.hashAlgo === ctx.provider.features.hash ? got.hash : await hashFile(temp, ctx.hashAlgo);
    await setMtime(temp, got.mtimeMs ?? got.uploadedMs ?? Date.now());
    const moved = await localMoved(target, expectLocal);
    if (moved) return { stale: moved };
    if (expectLocal && opts.trashOverwritten) await trashLocal(ctx, targetRel);
    // The stat of the bytes just written (a rename keeps it): a stat of the target after the
    // rename could describe an edit made in between and pair it with the downloaded hash.
    const st = await lstat(temp);
    ctx.expectEcho?.(targetRel);
    await rename(temp, target);
    return { entry: { local: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, hash }, remote: remoteBase(got) }, bytes: got.size };
  } finally {
    await removeQuietly(temp);
  }
}

/**
 * Uploads the local file at `p` to remote key `to`, checking both sides first. A store that
 * enforces conditional writes checks the remote atomically with the write (no HEAD, and no gap
 * between the check and the PUT); any other store gets a HEAD just before the PUT.
 */
export async function uploadFrom(
  ctx: ExecutorContext,
  local: LocalFile,
  to: string,
  expectRemote: RemoteObject | null,
  opts: { trashOverwritten: boolean },
): Promise<{ entry: BaseEntry; bytes: number } | { stale: string }> {
  const file = localFile(ctx, local.path);
  const lm = await localMoved(file, local);
  if (lm) return { stale: lm };
  const guarded = (await ctx.provider.conditionalWrites?.()) ?? false;
  const movedReason = expectRemote ? 'the remote object changed since the listing' : 'a remote object appeared since the listing';
  if (!guarded) {
    const rm = await remoteMoved(ctx, to, expectRemote);
    if (rm) return { stale: rm };
  }
  if (expectRemote && opts.trashOverwritten) {
    try {
      await trashRemote(ctx, to);
    } catch (err) {
      // Unchecked (guarded) path: the object it was to keep is gone, which the HEAD would have seen.
      if (isProviderError(err) && err.kind === 'not-found') return { stale: 'the remote object disappeared since the listing' };
      throw err;
    }
  }
  const precondition: WritePrecondition = expectRemote ? { kind: 'token', token: expectRemote.token } : { kind: 'absent' };
  let put: UploadedObject;
  try {
    put = await ctx.provider.upload(remoteKey(ctx, to), file, { mtimeMs: local.mtimeMs, size: local.size, signal: ctx.signal, precondition });
  } catch (err) {
    if (isProviderError(err) && err.kind === 'precondition') return { stale: movedReason };
    throw err;
  }
  const sentHash = ctx.provider.features.hash === ctx.hashAlgo ? (put.sentHash ?? put.hash) : undefined;
  const after = await statOrUndefined(file);
  if (after && sameStat(after, local)) {
    // The provider's hash of the bytes it received is the file's (its stat did not move): no second read.
    const hash = local.hash ?? sentHash ?? (await hashFile(file, ctx.hashAlgo));
    return { entry: { local: localBase(local, hash), remote: remoteBase(put) }, bytes: local.size };
  }
  // The file changed after the check, so the bytes sent may be neither version (a torn read).
  // Pair the new token only with the hash the provider says it stored (if comparable, else
  // unknown) under a stat no file has: the next pass re-reads the file and uploads it again
  // unless it equals what was sent. Never the planned hash: that would pair it with other bytes.
  // (`sentHash` may come from a second read of the file, so only the server's own hash counts here.)
  const stored = put.hash !== undefined && ctx.provider.features.hash === ctx.hashAlgo ? put.hash : '';
  return { entry: { local: { size: put.size, mtimeMs: -1, ino: -1, hash: stored }, remote: remoteBase(put) }, bytes: put.size };
}

export async function runAction(action: Action, ctx: ExecutorContext): Promise<Outcome> {
  switch (action.kind) {
    case 'upload': {
      const r = await uploadFrom(ctx, action.local, action.path, action.expectRemote, { trashOverwritten: ctx.deletes === 'trash' });
      if ('stale' in r) return stale(r.stale);
      return done(new Map([[action.path, r.entry]]), r.bytes);
    }
    case 'download': {
      const r = await downloadInto(ctx, action.path, action.path, action.expectLocal, { trashOverwritten: ctx.deletes === 'trash' });
      if ('stale' in r) return stale(r.stale);
      return done(new Map([[action.path, r.entry]]), r.bytes);
    }
    case 'deleteRemote': {
      const now = await ctx.provider.stat(remoteKey(ctx, action.path));
      if (now && now.token !== action.expectRemote.token) return stale('the remote object changed since the listing');
      let note: string | undefined;
      if (now) {
        if (action.trash) note = `trashed to ${await trashRemote(ctx, action.path)}`;
        await ctx.provider.delete(remoteKey(ctx, action.path));
      }
      return done(new Map([[action.path, null]]), 0, note);
    }
    case 'deleteLocal': {
      const file = localFile(ctx, action.path);
      const st = await statOrUndefined(file);
      if (st) {
        const moved = await localMoved(file, action.expectLocal);
        if (moved) return stale(moved);
      }
      let note: string | undefined;
      if (st) {
        if (action.trash) note = `trashed to ${await trashLocal(ctx, action.path)}`;
        else {
          ctx.expectEcho?.(action.path);
          await unlink(file);
        }
        await removeEmptyParents(ctx.root, ctx.diskNames.get(action.path) ?? action.path);
      }
      return done(new Map([[action.path, null]]), 0, note);
    }
    case 'moveRemote': {
      const lm = await localMoved(localFile(ctx, action.path), action.local);
      if (lm) return stale(lm);
      const from = await remoteMoved(ctx, action.from, action.expectRemote);
      if (from) return stale(from);
      const to = await remoteMoved(ctx, action.path, null);
      if (to) return stale(to);
      const moved = ctx.provider.move
        ? await ctx.provider.move(remoteKey(ctx, action.from), action.path)
        : await copyThenDelete(ctx, action.from, action.path);
      const entry: BaseEntry = { local: localBase(action.local, action.local.hash ?? action.expectRemote.hash ?? ''), remote: remoteBase(moved) };
      return done(new Map<string, BaseEntry | null>([[action.from, null], [action.path, entry]]), 0, `moved from ${action.from}`);
    }
    case 'conflict':
      return resolveConflict(action, ctx);
  }
}

async function copyThenDelete(ctx: ExecutorContext, from: string, to: string): Promise<RemoteObject> {
  if (!ctx.provider.copy) throw new Error(`${ctx.provider.features.name} cannot copy server-side`);
  const copied = await ctx.provider.copy(remoteKey(ctx, from), to);
  await ctx.provider.delete(remoteKey(ctx, from));
  return copied;
}
