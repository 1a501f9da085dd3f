// `sync-agent` with no flag: the long-running agent. Until the watcher lands, full passes on
// each pair's timer (reconcileEverySec), stopping cleanly on SIGINT/SIGTERM.

import { EXIT, type ExitCode } from './exit-codes.js';
import { reconcileCommand } from './reconcile-command.js';
import { loadConfig } from './config.js';

export async function daemonCommand(opts: { config: string; pair?: string; force?: boolean }): Promise<ExitCode> {
  const config = await loadConfig(opts.config);
  const every = Math.min(...config.pairs.map((p) => p.reconcileEverySec)) * 1000;
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopping) {
    await reconcileCommand({ config: opts.config, pair: opts.pair, force: opts.force });
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, every).unref();
    });
  }
  return EXIT.ok;
}
