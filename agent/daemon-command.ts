// `sync-agent` with no flag: the long-running agent (see daemon.ts), as a CLI command.

import type { ExitCode } from './exit-codes.js';
import { runDaemon } from './daemon.js';

/** How long a stopped daemon may take to wind down its last handles before it exits anyway. */
const EXIT_NET_MS = 2000;

export async function daemonCommand(opts: { config: string; pair?: string; force?: boolean }): Promise<ExitCode> {
  const code = await runDaemon(opts);
  // Everything is saved and released by now; a socket an SDK keeps alive must not hold the exit,
  // nor the IPC channel of a process manager (pm2), which would keep the process alive for good.
  setTimeout(() => process.exit(code), process.connected ? 0 : EXIT_NET_MS).unref();
  return code;
}
