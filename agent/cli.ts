// The command line (PRODUCT.md §1): argument parsing with commander, mapped onto the contract's
// exit codes. Each command lives in its own file.

import { Command, CommanderError } from 'commander';
import { EXIT, ExitError } from './exit-codes.js';
import { ConfigError } from './config.js';

const program = new Command()
  .name('sync-agent')
  .description('Keep a local folder and a bucket (S3, Qiniu Kodo, or a folder) in sync, in real time.')
  .option('-c, --config <file>', 'config file', 'agent.config.json')
  .option('--reconcile', 'run one full pass, then exit')
  .option('--dry-run', 'with --reconcile: print the plan, change nothing')
  .option('--pair <name>', 'only this pair')
  .option('--force', 'let this pass through a safety guard once')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) })
  .action(async (opts: { config: string; reconcile?: boolean; dryRun?: boolean; pair?: string; force?: boolean }) => {
    if (opts.dryRun && !opts.reconcile) throw new ExitError(EXIT.usage, '--dry-run goes with --reconcile');
    if (opts.reconcile) {
      const { reconcileCommand } = await import('./reconcile-command.js');
      process.exitCode = await reconcileCommand(opts);
    } else {
      const { daemonCommand } = await import('./daemon-command.js');
      process.exitCode = await daemonCommand(opts);
    }
  });

program
  .command('status')
  .description('what the agent knows, per pair: files, pending, last pass, errors')
  .option('-c, --config <file>', 'config file')
  .option('--json', 'print JSON instead of a table')
  .action(async (opts: { config?: string; json?: boolean }) => {
    const { statusCommand } = await import('./status-command.js');
    process.exitCode = await statusCommand({ config: opts.config ?? program.opts<{ config: string }>().config, json: opts.json ?? false });
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (e instanceof ExitError) {
    process.stderr.write(`sync-agent: ${e.message}\n`);
    process.exitCode = e.code;
  } else if (e instanceof ConfigError) {
    process.stderr.write(`sync-agent: ${e.message}\n`);
    process.exitCode = EXIT.usage;
  } else {
    process.stderr.write(`sync-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT.failed;
  }
}
