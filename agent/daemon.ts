// The long-running agent (PRODUCT.md §5–6): every pair locked for the daemon's life, a full pass
// at start, then real time. SIGINT/SIGTERM stop the watchers, let transfers in flight finish for
// a grace period, abort the rest, save the manifest with what completed, release the locks.

import { setMaxListeners } from 'node:events';
import { setup, lockAndOpen, type Setup } from './setup.js';
import type { PairRuntime } from './pair.js';
import type { Lock } from './lock.js';
import type { Logger } from './log.js';
import { PairWorker, type PairWorkerOptions } from './pair-worker.js';
import { IdleGc, limitHeapGrowth } from './daemon-heap.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export interface DaemonOptions {
  /** Path of agent.config.json. */
  readonly config: string;
  /** Only this pair. @default every pair */
  readonly pair?: string;
  /** Let each pair's first pass through an overridable safety guard. @default false */
  readonly force?: boolean;
  /**
   * After a stop signal, how long transfers in flight may run before they are aborted. Keep it
   * below pm2's kill_timeout (ecosystem.config.cjs) so the manifest is saved before a SIGKILL.
   * @default Number(process.env.SYNC_AGENT_STOP_GRACE_MS) || 5000
   */
  readonly graceMs?: number;
  /** Options passed to every pair's worker (tests: a watcher that fails). @default {} */
  readonly worker?: Partial<Pick<PairWorkerOptions, 'watch' | 'statusEveryMs' | 'fallbackEverySec'>>;
  /** Resolves when the daemon should stop. @default the first SIGINT or SIGTERM */
  readonly stopSignal?: Promise<unknown>;
  /** Called once the first pass of every pair is done. @default pm2's `wait_ready` message: process.send('ready') */
  readonly onReady?: () => void;
  /** Where log lines go. @default createLogger() (JSON lines on stdout, pretty on a terminal) */
  readonly log?: Logger;
}

interface Opened {
  readonly rt: PairRuntime;
  readonly lock?: Lock;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

/** Runs until a stop signal; resolves with the exit code once everything is saved and released. */
export async function runDaemon(opts: DaemonOptions): Promise<ExitCode> {
  let log: Logger | undefined;
  const controller = new AbortController();
  // Every queued transfer, stat and delete batch listens for the stop (p-queue adds one listener
  // per task): a burst of 1,000 files is 1,000 listeners for a while, not a leak, and Node's
  // "possible EventTarget memory leak" warning past 10 was noise in the daemon's log.
  setMaxListeners(Infinity, controller.signal);
  // Listening from the very start: a stop during start-up is a clean stop too, never a kill.
  const signals = watchSignals(() => log, () => controller.abort(new Error('aborted: the agent is stopping')));
  // Before anything is read: V8 sets its next limit at each full collection, and the one that
  // runs while a 100,000-entry manifest is parsed sets the limit for the whole pass at start.
  // Set after it, the start pass at 100,000 files ran to 230 MiB of heap with no collection
  // and the daemon to 315 MiB RSS (bench/daemon.md).
  limitHeapGrowth();
  try {
    const s = await setup({ config: opts.config, pair: opts.pair, ...(opts.log ? { log: opts.log } : {}) });
    log = s.log;
    const opened = await openAll(s);
    let code: ExitCode;
    try {
      code = await run(s, opened, controller, { ...signals, first: opts.stopSignal ?? signals.first }, opts);
    } finally {
      await closeAll(opened);
    }
    s.log.info({ event: 'stopped' }, 'stopped: manifest saved, locks released');
    return code;
  } finally {
    signals.dispose();
  }
}

async function run(s: Setup, opened: readonly Opened[], controller: AbortController, signals: Signals, opts: DaemonOptions): Promise<ExitCode> {
  const log = s.log;
  log.info({ event: 'started', pairs: opened.map((o) => o.rt.pair.name), config: s.config.file }, `sync-agent started (pid ${process.pid})`);
  const collection = new IdleGc({
    onCollect: ({ beforeBytes, afterBytes, ms }) =>
      log.debug({ event: 'gc', beforeMiB: mib(beforeBytes), afterMiB: mib(afterBytes), ms: Math.round(ms) }, `idle: heap ${mib(beforeBytes)} -> ${mib(afterBytes)} MiB in ${Math.round(ms)} ms`),
  });
  const workers = opened.map((o) => new PairWorker({ rt: o.rt, signal: controller.signal, force: opts.force ?? false, collection, ...opts.worker }));
  let stopping = false;
  const stop = signals.first.then(() => void (stopping = true));
  const started = Promise.all(workers.map((w) => w.start()));
  started.catch(() => undefined); // a start that fails after a stop has nothing left to report
  await Promise.race([started, stop]);
  if (!stopping) {
    log.info({ event: 'ready', pairs: workers.length }, `ready: first pass done for ${workers.length} pair(s)`);
    // pm2 `wait_ready`: the process counts as online only now.
    (opts.onReady ?? (() => process.send?.('ready')))();
    log.info({ event: 'watching', pairs: workers.length }, `watching ${workers.length} pair(s)`);
  }
  await stop;

  const graceMs = opts.graceMs ?? (Number(process.env.SYNC_AGENT_STOP_GRACE_MS) || 5000);
  log.info({ event: 'stopping', graceMs }, `stopping: finishing transfers in flight (up to ${graceMs} ms)`);
  await Promise.all(workers.map((w) => w.beginStop()));
  // No new transfer starts; those running get the grace period, then everything is aborted.
  s.queue.pause();
  let graceTimer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs)));
  await Promise.race([s.queue.onPendingZero(), grace, signals.second]);
  clearTimeout(graceTimer);
  controller.abort(new Error('aborted: the agent is stopping'));
  await Promise.all(workers.map((w) => w.stopped()));
  collection.close();
  return EXIT.ok;
}

/** Locks and opens every pair; on a failure the ones already taken are released. */
async function openAll(s: Setup): Promise<Opened[]> {
  const opened: Opened[] = [];
  try {
    for (const pair of s.pairs) opened.push(await lockAndOpen(s, pair, { lock: true }));
  } catch (e) {
    await closeAll(opened);
    throw e;
  }
  return opened;
}

async function closeAll(opened: readonly Opened[]): Promise<void> {
  for (const o of opened) {
    await o.rt.provider.close?.().catch(() => undefined);
    await o.lock?.release().catch(() => undefined);
  }
}

interface Signals {
  /** The first SIGINT/SIGTERM: stop gracefully. */
  readonly first: Promise<unknown>;
  /** A second one: stop waiting for transfers in flight. */
  readonly second: Promise<void>;
  readonly dispose: () => void;
}

/** The first SIGINT/SIGTERM asks for a graceful stop; a second one stops waiting for transfers. */
function watchSignals(log: () => Logger | undefined, abortNow: () => void): Signals {
  let count = 0;
  let resolveFirst: () => void = () => undefined;
  let resolveSecond: () => void = () => undefined;
  const first = new Promise<void>((r) => (resolveFirst = r));
  const second = new Promise<void>((r) => (resolveSecond = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    log()?.info({ event: 'signal', signal: sig }, count === 1 ? `${sig} received` : `${sig} received again: aborting transfers now`);
    if (count === 1) resolveFirst();
    else {
      resolveSecond();
      abortNow();
    }
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return {
    first,
    second,
    dispose: () => {
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    },
  };
}
