// Turns the raw pass results of one run into the markdown of bench/results.md: medians per
// contender, ratios to the SDK floor and to the server's limit measured in the same run, request
// counts per file, memory, and a verdict per target of issue 6.

import type { PassName, PassResult } from './pass.js';
import type { Role } from './tool.js';

export interface ToolInfo {
  readonly id: string;
  readonly label: string;
  readonly role: Role;
  /** Version, or why it did not run ("not installed"). */
  readonly note: string;
  readonly available: boolean;
}

export interface RunRecord {
  readonly machine: Record<string, string>;
  readonly settings: Record<string, string | number>;
  readonly tools: readonly ToolInfo[];
  readonly results: readonly PassResult[];
  readonly startedAt: string;
  readonly minutes: number;
}

export const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Cell {
  readonly ms?: number;
  readonly runs: number;
  readonly failed: number;
  readonly requests?: number;
  readonly rssKiB?: number;
  readonly cpuMs?: number;
  readonly files?: number;
  readonly problem?: string;
}

export function cell(results: readonly PassResult[], pass: PassName, tool: string): Cell {
  const all = results.filter((r) => r.pass === pass && r.tool === tool);
  const ok = all.filter((r) => r.ok);
  const rss = ok.flatMap((r) => (r.peakRssKiB === undefined ? [] : [r.peakRssKiB]));
  return {
    ms: median(ok.map((r) => r.ms)),
    runs: all.length,
    failed: all.length - ok.length,
    requests: median(ok.map((r) => r.server.requests)),
    rssKiB: median(rss),
    cpuMs: median(ok.flatMap((r) => (r.cpuMs === undefined ? [] : [r.cpuMs]))),
    files: ok[0]?.files,
    problem: all.find((r) => !r.ok)?.problem,
  };
}

const secs = (ms: number | undefined): string => (ms === undefined ? '—' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || !b ? '—' : `${(a / b).toFixed(2)}×`);
const mib = (kib: number | undefined): string => (kib === undefined ? '—' : String(Math.round(kib / 1024)));
const perFile = (c: Cell): string => (c.requests === undefined || !c.files ? '—' : (c.requests / c.files).toFixed(2));

function timeCell(c: Cell, floor: Cell): string {
  if (c.runs === 0) return '—';
  if (c.ms === undefined) return `failed (${(c.problem ?? '').slice(0, 60)})`;
  const flag = c.failed ? ` (${c.failed}/${c.runs} failed)` : '';
  return `${secs(c.ms)} s · ${ratio(c.ms, floor.ms)}${flag}`;
}

/** First upload, no-op, incremental: seconds, ratio to the SDK floor, requests per file. */
export function chainTable(run: RunRecord): string {
  const passes: PassName[] = ['first', 'noop', 'incremental'];
  const rows = [
    '| contender | first upload | no-op | incremental | requests/file (first · no-op · incr.) | client CPU s (first · no-op · incr.) | peak RSS MiB (first) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const t of run.tools) {
    if (!t.available) {
      rows.push(`| ${t.label} | ${t.note} | | | | | |`);
      continue;
    }
    const cells = passes.map((p) => cell(run.results, p, t.id));
    const floors = passes.map((p) => cell(run.results, p, 'floor-sdk'));
    const times = cells.map((c, i) => timeCell(c, floors[i] as Cell));
    rows.push(`| ${t.label} | ${times.join(' | ')} | ${cells.map(perFile).join(' · ')} | ${cells.map((c) => secs(c.cpuMs)).join(' · ')} | ${mib(cells[0]?.rssKiB)} |`);
  }
  return rows.join('\n');
}

/** One big file: time, throughput, its ratio to the floor's throughput, peak memory. */
export function bigFileTable(run: RunRecord, sizeBytes: number): string {
  const floor = cell(run.results, 'gib', 'floor-sdk');
  const rows = ['| contender | time | MiB/s | throughput vs SDK floor | client CPU s | peak RSS MiB |', '|---|---|---|---|---|---|'];
  for (const t of run.tools.filter((x) => x.available)) {
    const c = cell(run.results, 'gib', t.id);
    if (c.runs === 0) continue;
    const rate = c.ms ? (sizeBytes / 1024 / 1024 / (c.ms / 1000)).toFixed(0) : '—';
    rows.push(`| ${t.label} | ${c.ms === undefined ? 'failed' : `${secs(c.ms)} s`} | ${rate} | ${ratio(floor.ms, c.ms)} | ${secs(c.cpuMs)} | ${mib(c.rssKiB)} |`);
  }
  const idle = cell(run.results, 'idle', 'agent');
  rows.push(`| sync-agent idle (no-op over one file) | ${secs(idle.ms)} s | | | ${secs(idle.cpuMs)} | ${mib(idle.rssKiB)} |`);
  return rows.join('\n');
}

export function largeTable(run: RunRecord): string {
  const floor = cell(run.results, 'noop-large', 'floor-sdk');
  const rows = ['| contender | no-op | requests | client CPU s | peak RSS MiB |', '|---|---|---|---|---|'];
  for (const t of run.tools) {
    const c = cell(run.results, 'noop-large', t.id);
    if (!t.available) rows.push(`| ${t.label} | ${t.note} | | | |`);
    else if (c.runs > 0) rows.push(`| ${t.label} | ${timeCell(c, floor)} | ${c.requests ?? '—'} | ${secs(c.cpuMs)} | ${mib(c.rssKiB)} |`);
  }
  const adopt = cell(run.results, 'adopt', 'agent');
  const fill = cell(run.results, 'populate', 'floor-raw');
  if (adopt.runs) rows.push(`| (sync-agent's first pass over the filled bucket: adopt, hash everything) | ${secs(adopt.ms)} s | ${adopt.requests ?? '—'} | ${secs(adopt.cpuMs)} | ${mib(adopt.rssKiB)} |`);
  if (fill.runs) rows.push(`| (filling the bucket with the server-limit client) | ${secs(fill.ms)} s | ${fill.requests ?? '—'} | | |`);
  return rows.join('\n');
}

/** Each target of issue 6 that this run can judge: met, missed (with the numbers), or not measured. */
export function verdicts(run: RunRecord): string[] {
  const peers = run.tools.filter((t) => t.available && t.role === 'peer').map((t) => t.id);
  const out: string[] = [];
  const faster = (pass: PassName, what: string): void => {
    const agent = cell(run.results, pass, 'agent').ms;
    if (agent === undefined) return void out.push(`- ${what}: not measured`);
    // No peer ran (none installed, or --tools left them out): nothing to be faster than.
    const timed = peers.filter((p) => cell(run.results, pass, p).ms !== undefined);
    if (timed.length === 0) return void out.push(`- ${what} faster than every peer: not measured (no peer ran)`);
    const beaten = peers.map((p) => ({ p, ms: cell(run.results, pass, p).ms })).filter((x) => x.ms !== undefined && (x.ms as number) <= agent);
    out.push(`- ${what} faster than every peer: ${beaten.length === 0 ? 'met' : `missed (${beaten.map((b) => `${b.p} ${secs(b.ms)} s`).join(', ')} vs agent ${secs(agent)} s)`}`);
  };
  const limit = (pass: PassName, what: string): void => {
    const agent = cell(run.results, pass, 'agent').ms;
    const raw = cell(run.results, pass, 'floor-raw').ms;
    if (agent === undefined || raw === undefined) return;
    out.push(`- ${what} within 1.3× of the server's limit: ${agent / raw <= 1.3 ? 'met' : 'missed'} (${(agent / raw).toFixed(2)}×)`);
  };
  faster('noop', 'no-op pass');
  limit('noop', 'no-op pass');
  faster('noop-large', 'no-op pass at scale');
  limit('noop-large', 'no-op pass at scale');
  faster('first', 'first upload');
  limit('first', 'first upload');
  faster('incremental', 'incremental pass');
  const gib = cell(run.results, 'gib', 'agent').ms;
  const gibFloor = cell(run.results, 'gib', 'floor-sdk').ms;
  if (gib !== undefined && gibFloor !== undefined) out.push(`- big file at ≥ 0.8× the floor's throughput: ${gibFloor / gib >= 0.8 ? 'met' : 'missed'} (${(gibFloor / gib).toFixed(2)}×)`);
  const peak = cell(run.results, 'gib', 'agent').rssKiB;
  const idle = cell(run.results, 'idle', 'agent').rssKiB;
  if (peak !== undefined && idle !== undefined) {
    out.push(`- big file peak RSS ≤ idle + 64 MiB: ${peak - idle <= 64 * 1024 ? 'met' : 'missed'} (+${mib(peak - idle)} MiB: ${mib(peak)} vs ${mib(idle)} idle)`);
  }
  return out;
}

export function renderRun(run: RunRecord): string {
  const m = Object.entries(run.machine).map(([k, v]) => `- ${k}: ${v}`);
  const s = Object.entries(run.settings).map(([k, v]) => `${k} ${v}`).join(', ');
  const parts = [`Run of ${run.startedAt}, ${run.minutes.toFixed(1)} min. Settings: ${s}.`, '', ...m, ''];
  if (run.results.some((r) => ['first', 'noop', 'incremental'].includes(r.pass))) parts.push(chainTable(run), '');
  if (run.results.some((r) => r.pass === 'gib')) parts.push(bigFileTable(run, Number(run.settings.bigFileBytes ?? 0)), '');
  if (run.results.some((r) => r.pass === 'noop-large')) parts.push(largeTable(run), '');
  parts.push('Targets:', ...verdicts(run), '');
  const failures = run.results.filter((r) => !r.ok);
  if (failures.length) parts.push('Failed passes:', ...failures.map((f) => `- ${f.pass} ${f.tool} rep ${f.rep}: ${f.problem ?? ''}`), '');
  return parts.join('\n');
}
