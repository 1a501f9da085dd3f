// `sync-agent --reconcile`: one full pass per pair, then exit with the contract's code.

import { EXIT, type ExitCode } from './exit-codes.js';
import { setup, lockAndOpen } from './setup.js';
import { createLogger } from './log.js';
import { runCycle, type CycleCounts, type CycleReport } from './cycle.js';
import { createProgress } from './progress.js';
import { writeStatus } from './status.js';
import { statusFromReport } from './status-report.js';
import { describeError } from './executor.js';

export interface ReconcileOptions {
  readonly config: string;
  readonly dryRun?: boolean;
  readonly pair?: string;
  readonly force?: boolean;
}

export function summaryLine(c: CycleCounts): string {
  return `uploaded ${c.uploaded}, downloaded ${c.downloaded}, deleted ${c.deleted}, conflicts ${c.conflicts}, failed ${c.failed}`;
}

const severity = (code: ExitCode): number => ({ [EXIT.ok]: 0, [EXIT.failed]: 1, [EXIT.usage]: 2, [EXIT.guard]: 3, [EXIT.locked]: 4 })[code];
const worse = (a: ExitCode, b: ExitCode): ExitCode => (severity(b) > severity(a) ? b : a);

export async function reconcileCommand(opts: ReconcileOptions): Promise<ExitCode> {
  const tty = process.stdout.isTTY === true && !opts.dryRun;
  const progress = createProgress({ tty });
  // On a terminal, pretty log lines print above the bar instead of tearing through it.
  const s = await setup({ config: opts.config, pair: opts.pair, ...(tty ? { log: createLogger({ destination: progress.lines }) } : {}) });
  const total: CycleCounts = { uploaded: 0, downloaded: 0, deleted: 0, moved: 0, conflicts: 0, failed: 0, stale: 0, skipped: 0 };
  let code: ExitCode = EXIT.ok;
  const failures: string[] = [];
  const skipped: string[] = [];

  for (const pair of s.pairs) {
    // The pass runs right away: its listing starts while the manifest is read (remote-listing.ts).
    const { rt, lock } = await lockAndOpen(s, pair, { lock: !opts.dryRun, listEarly: true });
    const startedAt = new Date();
    let report: CycleReport | undefined;
    let error: string | undefined;
    try {
      let started = false;
      report = await runCycle(rt, {
        dryRun: opts.dryRun,
        force: opts.force,
        onPlan: ({ files, bytes }) => {
          if (!started) progress.start(files, bytes);
          started = true;
        },
        onProgress: (files, bytes) => progress.advance(files, bytes),
      });
      progress.stop();
    } catch (e) {
      progress.stop();
      error = describeError(e);
      rt.log.error({ event: 'pass-failed', error }, `pass failed: ${error}`);
      code = worse(code, EXIT.failed);
    } finally {
      if (!opts.dryRun) await writeStatus(s.config.stateDir, statusFromReport(rt, { startedAt, finishedAt: new Date(), report, error })).catch(() => undefined);
      await rt.provider.close?.();
      await lock?.release();
    }
    if (!report) continue;
    for (const sk of report.skips) skipped.push(`${pair.name}: ${sk.path}: ${sk.reason}`);
    if (report.kind === 'guard') {
      rt.log.error({ event: 'guard', guard: report.verdict.guard, message: report.verdict.message }, report.verdict.message);
      process.stderr.write(`sync-agent: pair ${pair.name}: ${report.verdict.message}\n`);
      code = worse(code, EXIT.guard);
    } else if (report.kind === 'dry-run') {
      for (const line of report.lines) process.stdout.write(`${s.pairs.length > 1 ? `[${pair.name}] ` : ''}${line}\n`);
    } else {
      for (const k of Object.keys(total) as (keyof CycleCounts)[]) total[k] += report.counts[k];
      for (const f of report.failed) failures.push(`${pair.name}: ${f.action.kind} ${f.action.path}: ${f.error}`);
      if (report.counts.failed > 0) code = worse(code, EXIT.failed);
    }
  }

  if (!opts.dryRun) {
    const line = summaryLine(total);
    s.log.info({ event: 'summary', ...total, failures, skipped: skipped.slice(0, 100) }, line);
    if (tty) process.stderr.write(`${line}\n`);
    if (failures.length > 0) process.stderr.write(`failed:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    if (skipped.length > 0 && tty) process.stderr.write(`skipped:\n${skipped.map((f) => `  ${f}`).join('\n')}\n`);
  }
  return code;
}
