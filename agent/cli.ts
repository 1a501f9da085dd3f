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

const trash = program.command('trash').description('versions kept by deletes: "trash", on both sides');
// Options the main program also defines are parsed into it when given after the subcommand.
const configOf = (opts: { config?: string }): string => opts.config ?? program.opts<{ config: string }>().config;
const pairOf = (opts: { pair?: string }): string | undefined => opts.pair ?? program.opts<{ pair?: string }>().pair;
trash
  .command('list')
  .description('list trashed versions: side, stamp, path, size')
  .option('-c, --config <file>', 'config file')
  .option('--pair <name>', 'only this pair')
  .option('--json', 'print JSON instead of a table')
  .action(async (opts: { config?: string; pair?: string; json?: boolean }) => {
    const { trashListCommand } = await import('./trash-command.js');
    process.exitCode = await trashListCommand({ config: configOf(opts), pair: pairOf(opts), json: opts.json ?? false });
  });
trash
  .command('restore <path>')
  .description('put the newest (or --from) trashed version of <path> back on its side; never overwrites')
  .option('-c, --config <file>', 'config file')
  .option('--pair <name>', 'the pair (needed when there are several)')
  .option('--from <stamp>', 'the version trashed at this stamp (YYYYMMDD-HHMMSS)')
  .option('--side <side>', 'only look in the local or the remote trash')
  .option('--to <path>', 'restore under this path instead')
  .action(async (p: string, opts: { config?: string; pair?: string; from?: string; side?: string; to?: string }) => {
    if (opts.side !== undefined && opts.side !== 'local' && opts.side !== 'remote') throw new ExitError(EXIT.usage, `--side ${opts.side}: use local or remote`);
    const { trashRestoreCommand } = await import('./trash-command.js');
    process.exitCode = await trashRestoreCommand({ config: configOf(opts), path: p, pair: pairOf(opts), from: opts.from, side: opts.side, to: opts.to });
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
