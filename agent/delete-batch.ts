// Remote deletes (deletes: propagate) in batches, on stores that enforce conditional deletes: one
// DeleteObjects per 1,000 paths, each entry carrying the version the planner saw, so the server
// deletes a path only while it still holds that version. That keeps the guard of the one-by-one
// path (re-stat, skip as stale if the remote moved) and closes its gap between the check and the
// delete, with one request per batch instead of a HEAD and a DELETE per path.

import pRetry from 'p-retry';
import type { ProviderError } from '../providers/provider.js';
import type { Action, ActionResult } from './types.js';
import type { ExecutorContext } from './executor.js';
import { describeError, isTransient } from './executor.js';
import { remoteKey } from './actions.js';

export type RemoteDelete = Extract<Action, { kind: 'deleteRemote' }>;

/** Paths per batch (S3's DeleteObjects limit). */
const BATCH = 1000;

/** A plain remote delete: the trash mode copies each version first, so it goes one by one. */
export const isBatchableDelete = (a: Action): a is RemoteDelete => a.kind === 'deleteRemote' && !a.trash;

/** Whether the provider deletes in batches with a server-side version check (probed once). */
export async function canBatchDeletes(ctx: ExecutorContext): Promise<boolean> {
  if (!ctx.provider.deleteMany || !ctx.provider.conditionalDeletes) return false;
  return ctx.provider.conditionalDeletes().catch(() => false);
}

/** Runs the deletes as batches on the shared queue (one slot per batch); results in input order. */
export async function deleteInBatches(actions: readonly RemoteDelete[], ctx: ExecutorContext): Promise<ActionResult[]> {
  const out: ActionResult[] = [];
  const batches: RemoteDelete[][] = [];
  for (let i = 0; i < actions.length; i += BATCH) batches.push(actions.slice(i, i + BATCH));
  const done = await Promise.all(
    batches.map((b) =>
      ctx.queue.add(() => deleteBatch(b, ctx), { signal: ctx.signal }).catch((e: unknown): ActionResult[] => {
        const error = ctx.signal?.aborted ? 'aborted: the agent is stopping' : describeError(e);
        return b.map((action) => ({ status: 'failed', action, error }));
      }),
    ),
  );
  for (const rs of done) out.push(...(rs ?? []));
  return out;
}

/** One batch with retries of its transient per-key failures; every path gets its own result and log line. */
async function deleteBatch(actions: readonly RemoteDelete[], ctx: ExecutorContext): Promise<ActionResult[]> {
  const deleteMany = ctx.provider.deleteMany?.bind(ctx.provider);
  if (!deleteMany) throw new Error(`${ctx.provider.features.name} cannot delete in batches`);
  const started = Date.now();
  const byKey = new Map(actions.map((a) => [remoteKey(ctx, a.path), a]));
  const tokens = new Map([...byKey].map(([key, a]) => [key, a.expectRemote.token]));
  const results = new Map<RemoteDelete, ActionResult>();
  let pending = [...byKey.keys()];
  let lastError: ProviderError | undefined;
  const settle = (a: RemoteDelete, r: ActionResult): void => {
    results.set(a, r);
    ctx.onProgress?.(1, 0);
    if (r.status === 'done') ctx.log.info({ event: a.kind, path: a.path, bytes: 0, ms: Date.now() - started, note: 'batched' }, `${a.kind} ${a.path}`);
    else if (r.status === 'stale') ctx.log.info({ event: 'stale', action: a.kind, path: a.path, reason: r.reason }, `skipped ${a.path}: ${r.reason}`);
    else ctx.log.error({ event: 'failed', action: a.kind, path: a.path, error: r.error }, `failed ${a.kind} ${a.path}: ${r.error}`);
  };
  try {
    await pRetry(
      async () => {
        const failed = await deleteMany(pending, { tokens });
        const again: string[] = [];
        for (const key of pending) {
          const a = byKey.get(key) as RemoteDelete;
          const err = failed.get(key);
          if (!err) settle(a, { status: 'done', action: a, updates: new Map([[a.path, null]]), bytes: 0 });
          // The server saw another version than the listing: the same answer as the re-stat's.
          else if (err.kind === 'precondition') settle(a, { status: 'stale', action: a, reason: 'the remote object changed since the listing' });
          else if (isTransient(err) && !ctx.signal?.aborted) {
            again.push(key);
            lastError = err;
          } else settle(a, { status: 'failed', action: a, error: describeError(err) });
        }
        pending = again;
        if (again.length > 0) throw lastError ?? new Error('delete failed');
      },
      {
        retries: ctx.retries ?? 4,
        minTimeout: ctx.retryMinMs ?? 250,
        factor: 2,
        randomize: true,
        signal: ctx.signal,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) ctx.log.warn({ event: 'retry', action: 'deleteRemote', paths: pending.length, attempt: attemptNumber, error: describeError(error) }, 'retrying');
        },
      },
    );
  } catch (e) {
    const error = ctx.signal?.aborted ? 'aborted: the agent is stopping' : describeError(e);
    for (const key of pending) {
      const a = byKey.get(key) as RemoteDelete;
      if (!results.has(a)) settle(a, { status: 'failed', action: a, error });
    }
  }
  return actions.map((a) => results.get(a) ?? { status: 'failed', action: a, error: 'no result' });
}
