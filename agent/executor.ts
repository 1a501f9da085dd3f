// Runs a plan's actions on a shared, concurrency-limited queue (p-queue), each with retries for
// transient faults and a just-in-time re-check before it overwrites or deletes anything.
// Returns what really happened, per action; it never touches the manifest itself.

import type PQueue from 'p-queue';
import pRetry, { AbortError } from 'p-retry';
import { isProviderError, type RemoteProvider } from '../providers/provider.js';
import type { Action, ActionResult, BaseEntry, DeleteMode, HashAlgo } from './types.js';
import type { Logger } from './log.js';
import { runAction } from './actions.js';
import { canBatchDeletes, deleteInBatches, isBatchableDelete } from './delete-batch.js';

export interface ExecutorContext {
  readonly pair: string;
  /** Absolute local root. */
  readonly root: string;
  readonly stateDir: string;
  readonly provider: RemoteProvider;
  readonly hashAlgo: HashAlgo;
  readonly deletes: DeleteMode;
  /** One queue for all pairs: `concurrency` transfers in flight in total. */
  readonly queue: PQueue;
  readonly log: Logger;
  /** Time of the pass: names trash folders and conflict copies. */
  readonly passTime: Date;
  /** Raw remote keys whose NFC path differs (the provider must be called with the raw key). */
  readonly rawKeys: ReadonlyMap<string, string>;
  /** Real on-disk relative names whose NFC key differs. */
  readonly diskNames: ReadonlyMap<string, string>;
  /** Called just before the agent writes or removes a local path (the watcher drops its echo). */
  readonly expectEcho?: (path: string) => void;
  readonly onProgress?: (files: number, bytes: number) => void;
  readonly signal?: AbortSignal;
  /** Retries after the first attempt for transient faults. @default 4 */
  readonly retries?: number;
  /** First backoff delay in ms (doubles, with jitter). @default 250 */
  readonly retryMinMs?: number;
}

/** Outcome of one attempt at an action, before it becomes an ActionResult. */
export type Outcome =
  | { readonly status: 'done'; readonly updates: ReadonlyMap<string, BaseEntry | null>; readonly bytes: number; readonly note?: string }
  | { readonly status: 'stale'; readonly reason: string };

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EBUSY']);

/** Only faults that can heal are retried; a wrong key or a denied bucket fails at once. */
export function isTransient(e: unknown): boolean {
  if (isProviderError(e)) return e.kind === 'transient';
  const code = (e as NodeJS.ErrnoException)?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

async function attempt(action: Action, ctx: ExecutorContext): Promise<ActionResult> {
  const started = Date.now();
  try {
    const outcome = await pRetry(
      async () => {
        try {
          return await runAction(action, ctx);
        } catch (e) {
          if (!isTransient(e) || ctx.signal?.aborted) throw new AbortError(e instanceof Error ? e : new Error(String(e)));
          throw e;
        }
      },
      {
        retries: ctx.retries ?? 4,
        minTimeout: ctx.retryMinMs ?? 250,
        factor: 2,
        randomize: true,
        signal: ctx.signal,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) ctx.log.warn({ event: 'retry', action: action.kind, path: action.path, attempt: attemptNumber, error: describeError(error) }, 'retrying');
        },
      },
    );
    const ms = Date.now() - started;
    if (outcome.status === 'stale') {
      ctx.log.info({ event: 'stale', action: action.kind, path: action.path, reason: outcome.reason }, `skipped ${action.path}: ${outcome.reason}`);
      return { status: 'stale', action, reason: outcome.reason };
    }
    ctx.onProgress?.(1, outcome.bytes);
    ctx.log.info(
      { event: action.kind, path: action.path, ...(action.kind === 'moveRemote' ? { from: action.from } : {}), bytes: outcome.bytes, ms, ...(outcome.note ? { note: outcome.note } : {}) },
      `${action.kind} ${action.path}`,
    );
    return { status: 'done', action, updates: outcome.updates, bytes: outcome.bytes, note: outcome.note };
  } catch (e) {
    const error = describeError(e);
    ctx.onProgress?.(1, 0);
    ctx.log.error({ event: 'failed', action: action.kind, path: action.path, error }, `failed ${action.kind} ${action.path}: ${error}`);
    return { status: 'failed', action, error };
  }
}

/**
 * Executes every action; resolves when all have finished (or failed), in plan order. Plain remote
 * deletes go in batches where the store checks each one's version itself (delete-batch.ts).
 */
export async function execute(actions: readonly Action[], ctx: ExecutorContext): Promise<ActionResult[]> {
  const deletes = actions.filter(isBatchableDelete);
  if (deletes.length === 0) return executeEach(actions, ctx);
  const others = actions.filter((a) => !isBatchableDelete(a));
  const [each, batched] = await Promise.all([
    executeEach(others, ctx),
    canBatchDeletes(ctx).then((yes) => (yes ? deleteInBatches(deletes, ctx) : executeEach(deletes, ctx))),
  ]);
  const byAction = new Map<Action, ActionResult>();
  for (const r of [...each, ...batched]) byAction.set(r.action, r);
  return actions.map((a) => byAction.get(a) ?? { status: 'failed', action: a, error: 'no result' });
}

async function executeEach(actions: readonly Action[], ctx: ExecutorContext): Promise<ActionResult[]> {
  const results = await Promise.all(
    actions.map((a) =>
      ctx.queue.add(() => attempt(a, ctx), { signal: ctx.signal }).catch(
        (e: unknown): ActionResult => ({ status: 'failed', action: a, error: ctx.signal?.aborted ? 'aborted: the agent is stopping' : describeError(e) }),
      ),
    ),
  );
  return results.map((r, i) => r ?? { status: 'failed', action: actions[i] as Action, error: 'no result' });
}
