// The whole benchmark in one run: every contender (the agent, the SDK floor, the server's limit
// and each installed peer) through every scenario, several repetitions, medians and ratios taken
// within this run. Run by hand, not in CI:
//   node --import tsx bench/run.ts            # full sizes (see README.md for the time it takes)
//   node --import tsx bench/run.ts --quick    # small sizes, to check the harness
// Writes bench/out/run-<time>.json (every pass) and .md (the tables for results.md).

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { agentTool, floorRaw, floorSdk } from './contenders.js';
import { makeCorpus } from './corpus.js';
import type { PassResult } from './pass.js';
import { PEERS } from './peers.js';
import { renderRun, type RunRecord, type ToolInfo } from './report.js';
import { bigFile, chain, largeNoop, type BenchContext } from './scenarios.js';
import { benchEnv, type Tool } from './tool.js';

const MIB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    files: { type: 'string' },
    big: { type: 'string' },
    'big-mib': { type: 'string' },
    'gib-mib': { type: 'string' },
    'large-files': { type: 'string' },
    reps: { type: 'string' },
    'large-reps': { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    tools: { type: 'string' },
    scenarios: { type: 'string', default: 'chain,gib,large' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'out') },
  },
});

/** Full sizes per the issue; --quick shrinks everything so a harness change is checked in minutes. */
const num = (v: string | undefined, full: number, quick: number): number => (v !== undefined ? Number(v) : a.quick ? quick : full);
const settings = {
  files: num(a.files, 10_000, 2_000),
  bigFiles: num(a.big, 3, 1),
  bigFileMiB: num(a['big-mib'], 100, 20),
  bigFileBytes: num(a['gib-mib'], 1024, 128) * MIB,
  largeFiles: num(a['large-files'], 100_000, 10_000),
  reps: num(a.reps, 3, 2),
  largeReps: num(a['large-reps'], 2, 1),
  concurrency: Number(a.concurrency),
  scenarios: a.scenarios,
};
const scenarios = new Set(settings.scenarios.split(','));

const git = (...args: string[]): string => {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
};

function machine(): Record<string, string> {
  const dirty = git('status', '--porcelain', '--', 'agent', 'providers', 'state', 'bin').split('\n').filter(Boolean).length;
  return {
    nproc: String(os.availableParallelism()),
    cpu: os.cpus()[0]?.model ?? '?',
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? ` + ${dirty} uncommitted files in agent/providers/state/bin (measured as in the work tree)` : ''}`,
    'load average at start': os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const all: Tool[] = [agentTool(), floorSdk, floorRaw, ...PEERS];
  const wanted = a.tools ? new Set(a.tools.split(',')) : undefined;
  const infos: ToolInfo[] = [];
  const tools: Tool[] = [];
  for (const t of all.filter((x) => !wanted || wanted.has(x.id) || x.role === 'floor' || x.role === 'limit')) {
    const av = await t.detect();
    infos.push({ id: t.id, label: t.label, role: t.role, available: av.ok, note: av.ok ? av.version : av.reason });
    if (av.ok) tools.push(t);
    process.stdout.write(`${t.id}: ${av.ok ? av.version : av.reason}\n`);
  }

  const results: PassResult[] = [];
  const ctx: BenchContext = {
    tools,
    work: a.work,
    env: benchEnv(),
    concurrency: settings.concurrency,
    record: (r) => void results.push(r),
    say: (line) => void process.stdout.write(`${line}\n`),
  };
  await mkdir(a.work, { recursive: true });
  const m = machine();

  if (scenarios.has('chain')) {
    const corpus = await makeCorpus({ root: path.join(a.work, `corpus-${settings.files}`), files: settings.files, bigFiles: settings.bigFiles, bigSize: settings.bigFileMiB * MIB });
    ctx.say(`chain: ${corpus.files.length} files, ${(corpus.totalBytes / MIB).toFixed(0)} MiB`);
    for (let rep = 1; rep <= settings.reps; rep++) await chain(ctx, corpus, rep);
  }
  if (scenarios.has('gib')) {
    ctx.say(`big file: ${settings.bigFileBytes / MIB} MiB`);
    for (let rep = 1; rep <= settings.reps; rep++) await bigFile(ctx, settings.bigFileBytes, rep);
  }
  if (scenarios.has('large')) {
    ctx.say(`large no-op: ${settings.largeFiles} files`);
    // Small files only: the point is the count, and filling the bucket must stay affordable.
    await largeNoop(ctx, { root: path.join(a.work, `large-${settings.largeFiles}`), files: settings.largeFiles, bigFiles: 0, maxSize: 4096 }, settings.largeReps);
  }

  const finishedAt = new Date();
  const run: RunRecord = {
    machine: { ...m, 'load average at end': os.loadavg().map((x) => x.toFixed(2)).join(' ') },
    settings,
    tools: infos,
    results,
    startedAt: startedAt.toISOString(),
    minutes: (finishedAt.getTime() - startedAt.getTime()) / 60_000,
  };
  await mkdir(a.out, { recursive: true });
  const stem = path.join(a.out, `run-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  await writeFile(`${stem}.json`, JSON.stringify(run, null, 2));
  const md = renderRun(run);
  await writeFile(`${stem}.md`, md);
  process.stdout.write(`\n${md}\nwritten: ${stem}.json, ${stem}.md\n`);
}

await main();
