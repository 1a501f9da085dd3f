// bench/daemon.ts's figures: per-phase summaries of the samples and log lines, the machine, and the
// markdown that goes between the generated-section markers of bench/daemon.md.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { DaemonProc, MemReport } from './daemon-proc.js';
import type { MemSample, WriteCounter } from './daemon-sampler.js';
import { median, type WriteTiming } from './daemon-write.js';
import type { PassResult } from './pass.js';

export interface PhaseResult {
  readonly name: string;
  readonly ms: number;
  readonly samples: number;
  readonly rssMinKiB?: number;
  readonly rssMedianKiB?: number;
  readonly rssMaxKiB?: number;
  /** VmHWM of the daemon process at the phase's last sample: the peak so far. */
  readonly hwmEndKiB?: number;
  readonly procs: number;
  readonly writes: number;
  /** Scoped cycles that acted (the daemon's debug `cycle` lines): flushes of watcher paths. */
  readonly cycles: number;
  /** Full passes started, by reason. */
  readonly passes: readonly string[];
  readonly uploads: number;
  readonly failed: number;
  readonly stale: number;
  /** The probe's reading at the phase's end (runs with --probe). */
  readonly mem?: MemReport;
}

export interface BurstResult {
  readonly edits: number;
  /** Time to make every edit (rename into place). */
  readonly editMs: number;
  /** From the first edit until every file was uploaded and status had nothing pending. */
  readonly settledMs: number;
  /** Server counters over the burst. */
  readonly puts: number;
  readonly requests: number;
  /** A HeadObject per edited key afterwards: undefined when every size is right. */
  readonly problem?: string;
}

export interface DaemonRun {
  readonly machine: Record<string, string>;
  readonly settings: Record<string, unknown>;
  readonly startedAt: string;
  readonly minutes: number;
  readonly setup: readonly PassResult[];
  readonly phases: readonly PhaseResult[];
  readonly burst: BurstResult;
  readonly restore: BurstResult;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null };
  readonly samples: readonly MemSample[];
  /** The probe's readings, one a second (runs with --probe): where the RSS is over time. */
  readonly probe?: readonly ({ phase: string; at: number } & MemReport)[];
  readonly write: WriteTiming;
}

export function summarisePhase(name: string, ms: number, all: readonly MemSample[], writes: WriteCounter, d: DaemonProc): PhaseResult {
  const samples = all.filter((s) => s.phase === name);
  const rss = samples.map((s) => s.rssKiB);
  const last = samples[samples.length - 1];
  const count = (event: string): number => d.events(event, name).length;
  const mem = d.mem.filter((m) => m.phase === name).pop();
  return {
    name,
    ms,
    samples: samples.length,
    ...(rss.length > 0 ? { rssMinKiB: Math.min(...rss), rssMedianKiB: median(rss), rssMaxKiB: Math.max(...rss) } : {}),
    ...(last ? { hwmEndKiB: last.hwmKiB } : {}),
    procs: Math.max(0, ...samples.map((s) => s.procs)),
    writes: writes.inPhase(name),
    cycles: count('cycle'),
    passes: d.events('pass-start', name).map((l) => String(l.reason)),
    uploads: count('upload'),
    failed: count('failed'),
    stale: count('stale'),
    ...(mem ? { mem } : {}),
  };
}

const git = (root: string, ...args: string[]): string => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trimEnd();
  } catch {
    return '?';
  }
};

export function machineInfo(root: string): Record<string, string> {
  const dirty = git(root, 'status', '--porcelain', '--', 'agent', 'providers', 'state', 'bin').split('\n').filter(Boolean);
  return {
    nproc: String(os.availableParallelism()),
    cpu: os.cpus()[0]?.model ?? '?',
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    commit: `${git(root, 'rev-parse', '--short', 'HEAD')}${dirty.length ? ` + uncommitted: ${dirty.map((l) => l.slice(3)).join(', ')}` : ''}`,
    'agent code run': agentCode(root),
    'load average at start': os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/** Whether bin/sync-agent.js runs the prebuilt dist/ or the sources through tsx (it decides at each start). */
function agentCode(root: string): string {
  if (process.env.SYNC_AGENT_SOURCE === '1') return 'sources through tsx (SYNC_AGENT_SOURCE=1)';
  // bin/build-stamp.js tells; its export has had two names.
  const probe =
    "const m = await import('./bin/build-stamp.js');" +
    "const fresh = typeof m.builtFromCurrentSources === 'function' ? m.builtFromCurrentSources() : typeof m.staleReason === 'function' ? m.staleReason() === undefined : null;" +
    "console.log(fresh === null ? '?' : fresh ? 'dist' : 'sources');";
  try {
    const said = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8' }).trim();
    if (said === 'dist') return 'prebuilt dist/ (built from the current sources)';
    if (said === 'sources') return 'sources through tsx (dist/ missing or older than the sources)';
  } catch {
    // no bin/build-stamp.js in this checkout: the bin always ran the sources
  }
  return 'sources through tsx';
}

const mib = (kib: number | undefined): string => (kib === undefined ? '—' : (kib / 1024).toFixed(0));
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

const WHAT: Record<string, string> = {
  start: 'spawn → `ready` (full pass at start)',
  idle: 'idle after ready',
  burst: 'burst: edits → all uploaded, status settled',
  after: 'idle after the burst',
  restore: 'second burst (originals back) → settled',
  stop: 'SIGTERM → exit',
};

export const GENERATED_START = '<!-- generated by bench/daemon.ts: everything down to the end marker is replaced on each run -->';
export const GENERATED_END = '<!-- end of generated section -->';

/** Replaces the generated section of `old` (or appends one). */
export function spliceGenerated(old: string, md: string): string {
  const block = `${GENERATED_START}\n${md.trim()}\n${GENERATED_END}\n`;
  const i = old.indexOf(GENERATED_START);
  const j = old.indexOf(GENERATED_END);
  if (i < 0 || j < i) return old.trim() === '' ? block : `${old.trimEnd()}\n\n${block}`;
  return old.slice(0, i) + block + old.slice(j + GENERATED_END.length + 1);
}

export function renderDaemonRun(r: DaemonRun): string {
  const L: string[] = [];
  const s = r.settings;
  L.push(`## Last run: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (${r.minutes.toFixed(1)} min)`, '');
  L.push('| machine | |', '|---|---|', ...Object.entries(r.machine).map(([k, v]) => `| ${k} | ${v} |`), '');
  L.push(
    `Run: \`node --import tsx bench/daemon.ts --files ${String(s.files)} --edits ${String(s.edits)}\`` +
      ` (idle phases ${String(s.idleSec)} s, RSS sampled every ${String(s.sampleMs)} ms, pair reconcileEverySec ${String(s.reconcileEverySec)}, other pair settings and concurrency at their defaults` +
      `${(s.nodeArgs as string[]).length ? `, daemon node flags \`${(s.nodeArgs as string[]).join(' ')}\`` : ''}${s.probe ? ', with the memory probe' : ''}).` +
      (s.watcher === 'chokidar' ? ' **The daemon\'s watcher ran on its chokidar back end (bench/daemon-chokidar.ts), not the default.**' : ''),
  );
  L.push(
    r.setup.length === 0
      ? 'Set-up: corpus, filled bucket and adopted manifest reused from an earlier run.'
      : `Set-up this run: ${r.setup.map((p) => `${p.pass} ${sec(p.ms)}`).join(', ')}.`,
    '',
  );
  L.push('### Memory by phase', '');
  L.push('| phase | duration | RSS min · median · max (MiB) | VmHWM at end (MiB) | manifest writes | cycles | full passes | uploads |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const p of r.phases.filter((x) => x.name !== 'done')) {
    L.push(`| ${WHAT[p.name] ?? p.name} | ${sec(p.ms)} | ${mib(p.rssMinKiB)} · ${mib(p.rssMedianKiB)} · ${mib(p.rssMaxKiB)} | ${mib(p.hwmEndKiB)} | ${p.writes} | ${p.cycles} | ${p.passes.length ? p.passes.join(', ') : 0} | ${p.uploads}${p.failed || p.stale ? ` (failed ${p.failed}, stale ${p.stale})` : ''} |`);
  }
  const peak = Math.max(...r.samples.map((x) => x.hwmKiB));
  const treePeak = Math.max(...r.samples.map((x) => x.treeHwmKiB));
  const procs = Math.max(...r.samples.map((x) => x.procs));
  L.push('', `Peak RSS (VmHWM) of the daemon: **${mib(peak)} MiB**${procs > 1 ? `; process tree (${procs} processes) ${mib(treePeak)} MiB` : ' (no child processes)'}. Exit after SIGTERM: ${r.exit.code ?? r.exit.signal}.`, '');

  const probed = r.phases.filter((p) => p.mem !== undefined && p.name !== 'done');
  if (probed.length > 0) {
    const m = (b: number | undefined): string => (b === undefined ? '—' : (b / 1024 ** 2).toFixed(0));
    L.push('Where it is at the end of each phase (`--probe`: `process.memoryUsage()` inside the daemon, MiB):', '');
    L.push('| phase | rss | V8 heap used / total | old space | large objects | code | external (arrayBuffers) | outside the V8 heap and buffers | fs.watch handles |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const p of probed) {
      const x = p.mem as MemReport;
      const native = x.rss - x.heapTotal - x.external;
      L.push(`| ${p.name} | ${m(x.rss)} | ${m(x.heapUsed)} / ${m(x.heapTotal)} | ${m(x.spaces.old_space)} | ${m(x.spaces.large_object_space)} | ${m(x.spaces.code_space)} | ${m(x.external)} (${m(x.arrayBuffers)}) | ${m(native)} | ${x.watches ?? '—'} |`);
    }
    L.push('');
  }
  L.push('### Bursts', '');
  L.push('| burst | edits | edits made in | all uploaded and settled after | PUTs | requests | manifest writes | cycles | objects checked |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const [name, b] of [['burst', r.burst], ['restore', r.restore]] as const) {
    const p = r.phases.find((x) => x.name === name);
    L.push(`| ${name === 'burst' ? 'edits (+17 bytes each)' : 'originals back'} | ${b.edits} | ${sec(b.editMs)} | ${sec(b.settledMs)} | ${b.puts} | ${b.requests} | ${p?.writes ?? '?'} | ${p?.cycles ?? '?'} | ${b.problem ?? 'all sizes right'} |`);
  }
  const w = r.write;
  L.push('', `### One manifest write at ${w.entries.toLocaleString('en')} entries (bench/daemon-write.ts, its own process)`, '');
  L.push('| | |', '|---|---|');
  L.push(`| file | ${(w.bytes / 1e6).toFixed(1)} MB |`);
  L.push(`| open (read, parse, full validation) | ${w.openMs.toFixed(0)} ms |`);
  L.push(`| **save**, median of ${w.saveMs.length} (each: .bak link, check, serialise, temp file, rename) | **${median(w.saveMs).toFixed(0)} ms** (${w.saveMs.map((x) => x.toFixed(0)).join(', ')}) |`);
  L.push(`| CPU time of a save (median; all threads of the process) | ${median(w.saveCpuMs).toFixed(0)} ms (${w.saveCpuMs.map((x) => x.toFixed(0)).join(', ')}) |`);
  L.push(`| parts timed alone: \`validateManifest\` · \`JSON.stringify\` · write the string | ${w.validateMs.toFixed(0)} · ${w.stringifyMs.toFixed(0)} · ${w.writeFileMs.toFixed(0)} ms |`);
  L.push(`| transient RSS of one save | ${mib(w.saveExtraKiB)} MiB |`);

  const idle = r.phases.find((x) => x.name === 'idle');
  const burst = r.phases.find((x) => x.name === 'burst');
  const writesOk = burst !== undefined && burst.writes <= burst.cycles + burst.passes.length;
  L.push('', '### Targets of issue 6', '', '| target | measured | verdict |', '|---|---|---|');
  L.push(`| daemon watching ${String(s.files)} files: RSS ≤ 300 MiB | peak ${mib(peak)} MiB; idle median ${mib(idle?.rssMedianKiB)} MiB | ${peak <= 300 * 1024 ? 'met' : '**missed**'} |`);
  // CPU time decides: on this shared 2-core machine a save's wall time mostly measures the load.
  const cpu = w.saveCpuMs !== undefined ? median(w.saveCpuMs) : median(w.saveMs);
  L.push(
    `| manifest write at ${w.entries.toLocaleString('en')} entries well under 1 s | ${cpu.toFixed(0)} ms CPU, ${median(w.saveMs).toFixed(0)} ms wall at load ${r.machine['load average at end']?.split(' ')[0] ?? '?'} | ${cpu < 500 ? 'met (CPU under 0.5 s)' : '**missed** (CPU not under 0.5 s)'} |`,
  );
  L.push(`| no more than one manifest write per pass or flush | burst: ${burst?.writes ?? '?'} writes for ${burst?.cycles ?? '?'} cycles + ${burst?.passes.length ?? '?'} full passes | ${writesOk ? 'met' : '**missed**'} |`);
  return L.join('\n');
}
