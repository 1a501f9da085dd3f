// `sync-agent trash list` and `sync-agent trash restore <path>`: what deletes: "trash" kept, on
// both sides, and bringing one version back. No lock is taken: a restore only creates a file
// where none exists (checked just before), which a running agent then syncs like a user's file.

import path from 'node:path';
import { loadConfig, type AgentConfig, type PairConfig } from './config.js';
import { EXIT, ExitError, type ExitCode } from './exit-codes.js';
import { createProvider } from '../providers/registry.js';
import type { RemoteProvider } from '../providers/provider.js';
import { describeError } from './executor.js';
import { listLocalTrash, listRemoteTrash, pickVersion, restoreVersion, sortVersions, type TrashedVersion, type TrashSide } from './trash.js';

export interface TrashListOptions {
  readonly config: string;
  /** Only this pair. @default every pair */
  readonly pair?: string;
  /** Print JSON (an array of {pair, side, stamp, path, size}) instead of a table. @default false */
  readonly json?: boolean;
}

export interface TrashRestoreOptions {
  readonly config: string;
  /** The sync key to restore, e.g. `docs/a.txt`. */
  readonly path: string;
  /** Needed when the config has several pairs. */
  readonly pair?: string;
  /** The stamp (`YYYYMMDD-HHMMSS`) of the version to restore. @default the newest */
  readonly from?: string;
  /** Only look in this side's trash. @default both */
  readonly side?: TrashSide;
  /** Restore under this path instead of the original one. @default the original path */
  readonly to?: string;
}

function pairsOf(config: AgentConfig, name: string | undefined): readonly PairConfig[] {
  if (name === undefined) return config.pairs;
  const found = config.pairs.filter((p) => p.name === name);
  if (found.length === 0) throw new ExitError(EXIT.usage, `no pair named "${name}" in ${config.file} (pairs: ${config.pairs.map((p) => p.name).join(', ')})`);
  return found;
}

/** Both sides' trash of one pair, with the provider (closed by the caller). */
async function trashOf(config: AgentConfig, pair: PairConfig): Promise<{ versions: TrashedVersion[]; provider: RemoteProvider }> {
  const provider = await createProvider(pair.remote);
  try {
    const versions = [...(await listLocalTrash(pair.name, config.stateDir)), ...(await listRemoteTrash(pair.name, provider))];
    return { versions, provider };
  } catch (e) {
    await provider.close?.();
    // A partial trash list could hide the version the user is looking for: say so instead.
    throw new ExitError(EXIT.failed, `cannot read the trash of pair ${pair.name}: ${describeError(e)}`);
  }
}

const num = (n: number): string => n.toLocaleString('en-US');

/** Aligned columns: pair, side, stamp, size, path (names JSON-quoted when they hold odd characters). */
function formatTable(versions: readonly TrashedVersion[]): string {
  if (versions.length === 0) return 'the trash is empty';
  const rows = [['PAIR', 'SIDE', 'TRASHED (UTC)', 'SIZE', 'PATH'], ...versions.map((v) => [v.pair, v.side, v.stamp, num(v.size), /[^\x20-\x7e\u00a0-\uffff]/.test(v.path) ? JSON.stringify(v.path) : v.path])];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 3 ? c.padStart(widths[i] ?? 0) : i < 4 ? c.padEnd(widths[i] ?? 0) : c)).join('  ')).join('\n');
}

export async function trashListCommand(opts: TrashListOptions): Promise<ExitCode> {
  const config = await loadConfig(path.resolve(opts.config));
  const all: TrashedVersion[] = [];
  for (const pair of pairsOf(config, opts.pair)) {
    const { versions, provider } = await trashOf(config, pair);
    await provider.close?.();
    all.push(...versions);
  }
  const sorted = sortVersions(all);
  if (opts.json) {
    const rows = sorted.map(({ pair, side, stamp, path: p, size }) => ({ pair, side, stamp, path: p, size }));
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else process.stdout.write(`${formatTable(sorted)}\n`);
  return EXIT.ok;
}

export async function trashRestoreCommand(opts: TrashRestoreOptions): Promise<ExitCode> {
  const config = await loadConfig(path.resolve(opts.config));
  if (opts.from !== undefined && !/^\d{8}-\d{6}(-\d+)?$/.test(opts.from)) {
    throw new ExitError(EXIT.usage, `--from ${opts.from}: expected a stamp like 20260122-041928, as \`sync-agent trash list\` shows`);
  }
  const pairs = pairsOf(config, opts.pair);
  const pair = pairs[0];
  if (pair === undefined || pairs.length > 1) {
    throw new ExitError(EXIT.usage, `${config.file} has several pairs: name one with --pair (${config.pairs.map((p) => p.name).join(', ')})`);
  }
  const { versions, provider } = await trashOf(config, pair);
  try {
    const picked = pickVersion(versions, opts.path, { ...(opts.from ? { from: opts.from } : {}), ...(opts.side ? { side: opts.side } : {}) });
    if (!('side' in picked)) {
      process.stderr.write(`sync-agent: ${picked.message}\n`);
      return picked.kind === 'ambiguous' ? EXIT.usage : EXIT.failed;
    }
    const problem = await restoreVersion(picked, { root: pair.local, provider, stateDir: config.stateDir }, opts.to ?? picked.path).catch((e: unknown) => {
      throw new ExitError(EXIT.failed, `restoring ${picked.path} (${picked.side}, ${picked.stamp}) failed: ${describeError(e)}; the version is still in the trash`);
    });
    if (problem) {
      process.stderr.write(`sync-agent: ${problem.message}\n`);
      return problem.kind === 'unsafe' ? EXIT.usage : EXIT.failed;
    }
    const where = picked.side === 'local' ? 'in the local folder' : 'on the remote';
    process.stdout.write(`restored ${opts.to ?? picked.path} ${where} (the version trashed at ${picked.stamp}); the next pass syncs it\n`);
    return EXIT.ok;
  } finally {
    await provider.close?.();
  }
}
