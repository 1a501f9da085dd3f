// A conflict keeps both versions: first check whether the contents are in fact equal (adopt
// without a transfer), else the newer version keeps the name and the other becomes a
// `.sync-conflict-…` copy — on both sides in `both`, on the losing side's own side in push/pull.

import { lstat, rename } from 'node:fs/promises';
import type { Action, BaseEntry, LocalFile } from './types.js';
import type { ExecutorContext, Outcome } from './executor.js';
import { hashFile } from './hasher.js';
import { conflictName, conflictWinner } from './conflicts.js';
import { downloadInto, localBase, localFile, remoteBase, remoteKey, uploadFrom } from './actions.js';
import { ensureParentDirs, localMoved, removeQuietly, statOrUndefined, tempBeside } from './local-fs.js';
import { keyToLocalPath } from './paths.js';

type ConflictAction = Extract<Action, { kind: 'conflict' }>;

/** Compares contents when the listing could not: provider hash, else a download to a temp file. */
async function equalContent(a: ConflictAction, ctx: ExecutorContext): Promise<{ equal: boolean; token?: string }> {
  if (a.local.size !== a.remote.size) return { equal: false };
  const localHash = a.local.hash ?? (await hashFile(localFile(ctx, a.path), ctx.hashAlgo));
  if (a.remote.hash !== undefined) return { equal: a.remote.hash === localHash };
  if (ctx.provider.contentHash) return { equal: (await ctx.provider.contentHash(remoteKey(ctx, a.path))) === localHash };
  await ensureParentDirs(ctx.root, a.path);
  const temp = tempBeside(keyToLocalPath(ctx.root, a.path));
  try {
    const got = await ctx.provider.download(remoteKey(ctx, a.path), temp, { signal: ctx.signal });
    return { equal: (await hashFile(temp, ctx.hashAlgo)) === localHash, token: got.token };
  } finally {
    await removeQuietly(temp);
  }
}

/** A conflict-copy name free on both sides. */
async function freeName(ctx: ExecutorContext, p: string, side: 'local' | 'remote'): Promise<string> {
  const known = new Set<string>();
  for (;;) {
    const name = conflictName(p, ctx.passTime, side, (c) => known.has(c));
    const taken = (await statOrUndefined(keyToLocalPath(ctx.root, name))) !== undefined || (await ctx.provider.stat(name)) !== undefined;
    if (!taken) return name;
    known.add(name);
  }
}

async function renameLocal(ctx: ExecutorContext, from: string, to: string): Promise<LocalFile> {
  ctx.expectEcho?.(from);
  ctx.expectEcho?.(to);
  await rename(localFile(ctx, from), keyToLocalPath(ctx.root, to));
  const st = await lstat(keyToLocalPath(ctx.root, to));
  return { path: to, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

export async function resolveConflict(a: ConflictAction, ctx: ExecutorContext): Promise<Outcome> {
  const file = localFile(ctx, a.path);
  const lm = await localMoved(file, a.local);
  if (lm) return { status: 'stale', reason: lm };
  const now = await ctx.provider.stat(remoteKey(ctx, a.path));
  if (!now || now.token !== a.remote.token) return { status: 'stale', reason: 'the remote object changed since the listing' };

  const eq = await equalContent(a, ctx);
  if (eq.equal) {
    const hash = a.local.hash ?? (await hashFile(file, ctx.hashAlgo));
    const entry: BaseEntry = { local: localBase(a.local, hash), remote: remoteBase(now) };
    return { status: 'done', updates: new Map([[a.path, entry]]), bytes: 0, note: 'same content on both sides: adopted' };
  }

  const winner = a.direction === 'push' ? 'local' : a.direction === 'pull' ? 'remote' : conflictWinner(a.local, now);
  const loserSide = winner === 'local' ? 'remote' : 'local';
  const loser = await freeName(ctx, a.path, loserSide);
  const updates = new Map<string, BaseEntry | null>();
  let bytes = 0;
  const record = (p: string, r: { entry: BaseEntry; bytes: number } | { stale: string }): boolean => {
    if ('stale' in r) return false;
    updates.set(p, r.entry);
    bytes += r.bytes;
    return true;
  };

  if (winner === 'local') {
    // The remote version is kept server-side under the conflict name (and locally in `both`).
    if (!ctx.provider.copy) throw new Error(`${ctx.provider.features.name} cannot copy server-side: cannot keep the remote version`);
    await ctx.provider.copy(remoteKey(ctx, a.path), loser);
    if (a.direction === 'both') record(loser, await downloadInto(ctx, loser, loser, null, { trashOverwritten: false }));
    const up = await uploadFrom(ctx, a.local, a.path, now, { trashOverwritten: false });
    if (!record(a.path, up)) return { status: 'stale', reason: `kept the remote version as ${loser}; ${'stale' in up ? up.stale : ''}` };
  } else {
    // The local version moves aside under the conflict name (and is uploaded in `both`).
    const moved = await renameLocal(ctx, a.path, loser);
    if (a.direction === 'both') {
      const hash = a.local.hash ?? (await hashFile(keyToLocalPath(ctx.root, loser), ctx.hashAlgo));
      record(loser, await uploadFrom(ctx, { ...moved, hash }, loser, null, { trashOverwritten: false }));
    }
    const down = await downloadInto(ctx, a.path, a.path, null, { trashOverwritten: false });
    if (!record(a.path, down)) return { status: 'stale', reason: `kept the local version as ${loser}; ${'stale' in down ? down.stale : ''}` };
  }
  return { status: 'done', updates, bytes, note: `conflict: ${winner} version kept the name, the other is ${loser}` };
}
