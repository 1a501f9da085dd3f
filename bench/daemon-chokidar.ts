// The daemon with its watcher on the chokidar back end (the default off Linux), to compare with
// the folders back end Linux uses: the real daemon through runDaemon's `worker.watch` seam, the
// one the tests use. Run by bench/daemon.ts --watcher chokidar, or alone:
//   node --import tsx bench/daemon-chokidar.ts --config <agent.config.json>

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runDaemon } from '../agent/daemon.js';
import { startWatcher } from '../agent/watcher.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', default: 'agent.config.json' } } });
  const code = await runDaemon({ config: values.config, worker: { watch: (o) => startWatcher({ ...o, backend: 'chokidar' }) } });
  // As agent/daemon-command.ts: a socket kept alive by the SDK must not hold the exit.
  setTimeout(() => process.exit(code), 2000).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
