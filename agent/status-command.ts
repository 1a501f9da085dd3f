// `sync-agent status [--json]`: prints what the agent knows per pair from the status files.

import { loadConfig } from './config.js';
import { readStatus, formatStatusTable, type PairStatus } from './status.js';
import { describeRemote } from '../providers/registry.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export async function statusCommand(opts: { config: string; json: boolean }): Promise<ExitCode> {
  const config = await loadConfig(opts.config);
  const statuses: PairStatus[] = [];
  for (const pair of config.pairs) {
    const st = await readStatus(config.stateDir, pair.name);
    statuses.push(
      st ?? {
        pair: pair.name,
        local: pair.local,
        remote: describeRemote(pair.remote),
        trackedFiles: 0,
        pendingPaths: 0,
        inFlight: 0,
        updatedAt: new Date(0).toISOString(),
      },
    );
  }
  process.stdout.write(opts.json ? `${JSON.stringify(statuses, null, 2)}\n` : `${formatStatusTable(statuses, Date.now())}\n`);
  return EXIT.ok;
}
