// `<stateDir>/<pair>.status.json`: what the agent knows about a pair, written after each pass (and
// by the daemon as things change), read by `sync-agent status`. The JSON form is the array of these.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const PASS_RESULTS = ['ok', 'failed', 'guard', 'error'] as const;
export type PassResult = (typeof PASS_RESULTS)[number];

/** Most skipped items a status file keeps; `lastPass.skipped` still counts them all. */
export const MAX_STATUS_SKIPS = 100;

export interface PassSummary {
  startedAt: string;
  finishedAt: string;
  result: PassResult;
  uploaded: number;
  downloaded: number;
  deleted: number;
  conflicts: number;
  failed: number;
  skipped: number;
}

export interface PairStatus {
  pair: string;
  local: string;
  remote: string;
  trackedFiles: number;
  pendingPaths: number;
  inFlight: number;
  lastPass?: PassSummary;
  lastError?: { at: string; message: string };
  /** A tripped guard's message. */
  guard?: string;
  /** Epoch ms of the oldest change not yet synced. */
  oldestUnsyncedMs?: number;
  /** Capped at MAX_STATUS_SKIPS. */
  skips?: { path: string; reason: string }[];
  remoteDown?: boolean;
  daemonPid?: number;
  /** What happened when the manifest could not be used as stored (see ManifestStore.open). */
  manifestRecovered?: string;
  updatedAt: string;
}

const count = z.number().int().nonnegative();
const statusSchema = z.looseObject({
  pair: z.string(),
  local: z.string(),
  remote: z.string(),
  trackedFiles: count,
  pendingPaths: count,
  inFlight: count,
  lastPass: z
    .object({
      startedAt: z.string(),
      finishedAt: z.string(),
      result: z.enum(PASS_RESULTS),
      uploaded: count,
      downloaded: count,
      deleted: count,
      conflicts: count,
      failed: count,
      skipped: count,
    })
    .optional(),
  lastError: z.object({ at: z.string(), message: z.string() }).optional(),
  guard: z.string().optional(),
  oldestUnsyncedMs: z.number().optional(),
  skips: z.array(z.object({ path: z.string(), reason: z.string() })).optional(),
  remoteDown: z.boolean().optional(),
  daemonPid: z.number().int().optional(),
  manifestRecovered: z.string().optional(),
  updatedAt: z.string(),
}) satisfies z.ZodType<PairStatus>;

export function statusFile(stateDir: string, pair: string): string {
  return path.join(stateDir, `${pair}.status.json`);
}

/** Atomic (temp file + rename): `status` never reads a half-written file. */
export async function writeStatus(stateDir: string, status: PairStatus): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = statusFile(stateDir, status.pair);
  const capped = status.skips && status.skips.length > MAX_STATUS_SKIPS ? { ...status, skips: status.skips.slice(0, MAX_STATUS_SKIPS) } : status;
  // A unique temp name: the daemon and a `--reconcile` of another pair may write at once.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(capped, null, 2)}\n`);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * The pair's last status, or undefined when it never ran. A file that is not a status (hand-edited,
 * from a future version) also reads as undefined: `status` must always answer.
 */
export async function readStatus(stateDir: string, pair: string): Promise<PairStatus | undefined> {
  let text: string;
  try {
    text = await readFile(statusFile(stateDir, pair), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = statusSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as PairStatus) : undefined;
  } catch {
    return undefined;
  }
}

// ---- the table `sync-agent status` prints ----

/** `45s`, `5m 3s`, `2h 10m`, `3d 4h`: two units are enough to read an age at a glance. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  const i = units.findIndex(([size]) => s >= size);
  const [big, bigName] = units[i] ?? [1, 's'];
  const [small, smallName] = units[i + 1] ?? [1, 's'];
  const rest = Math.floor((s % big) / small);
  return rest === 0 ? `${Math.floor(s / big)}${bigName}` : `${Math.floor(s / big)}${bigName} ${rest}${smallName}`;
}

function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return 'never';
  return now - t < 1000 ? 'just now' : `${formatDuration(now - t)} ago`;
}

/** `2026-01-22 04:19:28Z`: a full time for logs and tickets, without the milliseconds. */
function when(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Names with control characters are why items get skipped; printed raw they would garble the terminal. */
const printable = (text: string): string =>
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

const num = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`): string => `${num(n)} ${n === 1 ? one : many}`;

/** Skipped items shown in the table; `status --json` lists up to MAX_STATUS_SKIPS. */
const TABLE_SKIPS = 10;

function rows(s: PairStatus, now: number): [string, string][] {
  const out: [string, string][] = [];
  out.push(['tracked files', num(s.trackedFiles)]);
  out.push(['pending', `${plural(s.pendingPaths, 'path')}, ${num(s.inFlight)} in flight`]);
  if (s.oldestUnsyncedMs !== undefined) {
    out.push(['oldest unsynced', `changed ${formatDuration(now - s.oldestUnsyncedMs)} ago, not synced yet`]);
  }
  const p = s.lastPass;
  if (p === undefined) out.push(['last pass', 'none yet']);
  else {
    const took = formatDuration(Date.parse(p.finishedAt) - Date.parse(p.startedAt));
    out.push(['last pass', `${p.result.toUpperCase()} ${ago(p.finishedAt, now)} (${when(p.finishedAt)}, took ${took})`]);
    out.push([
      '',
      `uploaded ${num(p.uploaded)}, downloaded ${num(p.downloaded)}, deleted ${num(p.deleted)}, ` +
        `conflicts ${num(p.conflicts)}, failed ${num(p.failed)}, skipped ${num(p.skipped)}`,
    ]);
  }
  if (s.guard !== undefined) out.push(['guard', printable(s.guard)]);
  if (s.lastError !== undefined) out.push(['last error', `${ago(s.lastError.at, now)}: ${printable(s.lastError.message)}`]);
  if (s.remoteDown === true) out.push(['remote', 'DOWN: unreachable, retrying (nothing is treated as deleted)']);
  if (s.manifestRecovered !== undefined) out.push(['manifest', printable(s.manifestRecovered)]);
  const skips = s.skips ?? [];
  skips.slice(0, TABLE_SKIPS).forEach((k, i) => out.push([i === 0 ? 'skipped' : '', `${printable(k.path)}: ${printable(k.reason)}`]));
  const hidden = Math.max(skips.length, s.lastPass?.skipped ?? 0) - Math.min(skips.length, TABLE_SKIPS);
  if (skips.length > 0 && hidden > 0) out.push(['', `… and ${num(hidden)} more (status --json lists up to ${MAX_STATUS_SKIPS})`]);
  if (s.daemonPid !== undefined) out.push(['daemon', `pid ${s.daemonPid}`]);
  out.push(['updated', ago(s.updatedAt, now)]);
  return out;
}

/** One block per pair: a heading, then aligned `label  value` rows. */
export function formatStatusTable(statuses: readonly PairStatus[], now: number): string {
  if (statuses.length === 0) return 'no pairs configured';
  return statuses
    .map((s) => {
      const r = rows(s, now);
      const width = Math.max(...r.map(([label]) => label.length));
      const body = r.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`);
      return [`${s.pair}  ${printable(s.local)} <-> ${printable(s.remote)}`, ...body].join('\n');
    })
    .join('\n\n');
}
