// What every command does first: load the config, make the logger and the shared queue, pick
// the pairs, and map start-up failures onto exit codes with messages a user can act on.

import path from 'node:path';
import PQueue from 'p-queue';
import { loadConfig, type AgentConfig, type PairConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { EXIT, ExitError } from './exit-codes.js';
import { acquireLock, LockHeldError, type Lock } from './lock.js';
import { openPair, type PairRuntime } from './pair.js';

export interface Setup {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly queue: PQueue;
  readonly pairs: readonly PairConfig[];
}

export async function setup(opts: { config: string; pair?: string; log?: Logger }): Promise<Setup> {
  const config = await loadConfig(path.resolve(opts.config));
  const pairs = opts.pair === undefined ? config.pairs : config.pairs.filter((p) => p.name === opts.pair);
  if (pairs.length === 0) {
    throw new ExitError(EXIT.usage, `no pair named "${opts.pair}" in ${config.file} (pairs: ${config.pairs.map((p) => p.name).join(', ')})`);
  }
  const log = opts.log ?? createLogger();
  return { config, log, queue: new PQueue({ concurrency: config.concurrency }), pairs };
}

/** Errors raised while opening a pair that are the user's to fix (exit 2), not a crash. */
const USAGE_ERRORS = new Set(['QiniuCredentialsError', 'QiniuConfigError', 'ManifestMismatchError', 'ConfigError']);

export const lockFile = (config: AgentConfig, pair: PairConfig): string => path.join(config.stateDir, `${pair.name}.lock`);

/** Takes the pair's lock (exit 4 when a live agent holds it) and opens its runtime. */
export async function lockAndOpen(
  s: Setup,
  pair: PairConfig,
  opts: { lock: boolean; env?: NodeJS.ProcessEnv; listEarly?: boolean },
): Promise<{ rt: PairRuntime; lock?: Lock }> {
  let lock: Lock | undefined;
  if (opts.lock) {
    try {
      lock = await acquireLock(lockFile(s.config, pair));
    } catch (e) {
      if (e instanceof LockHeldError) throw new ExitError(EXIT.locked, e.message);
      throw e;
    }
  }
  try {
    const rt = await openPair(s.config, pair, { queue: s.queue, log: s.log, env: opts.env, listEarly: opts.listEarly, ...retryTuning() });
    if (lock?.tookOver) rt.log.warn({ event: 'lock-taken-over', detail: lock.tookOver }, lock.tookOver);
    if (rt.recovered) rt.log.warn({ event: 'manifest-recovered', detail: rt.recovered }, rt.recovered);
    return { rt, ...(lock ? { lock } : {}) };
  } catch (e) {
    await lock?.release();
    if (e instanceof Error && USAGE_ERRORS.has(e.name)) throw new ExitError(EXIT.usage, e.message);
    throw e;
  }
}

/** Tests shorten the backoff through the environment; users keep the defaults. */
function retryTuning(): { retries?: number; retryMinMs?: number } {
  const retries = Number(process.env.SYNC_AGENT_RETRIES);
  const retryMinMs = Number(process.env.SYNC_AGENT_RETRY_MIN_MS);
  return {
    ...(Number.isInteger(retries) && process.env.SYNC_AGENT_RETRIES ? { retries } : {}),
    ...(Number.isFinite(retryMinMs) && process.env.SYNC_AGENT_RETRY_MIN_MS ? { retryMinMs } : {}),
  };
}
