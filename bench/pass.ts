// One timed pass of one contender against the bench server, checked afterwards (untimed): the
// server's request counters say what it cost, a listing says whether the bucket is right.

import os from 'node:os';
import type { S3Server, S3ServerStats } from '../tests/helpers/s3-server.js';
import { measure } from './measure.js';
import type { Target, Tool } from './tool.js';
import { mirrorProblem } from './verify.js';

export const PASSES = ['first', 'noop', 'incremental', 'gib', 'idle', 'populate', 'adopt', 'noop-large'] as const;
export type PassName = (typeof PASSES)[number];

export interface PassResult {
  readonly pass: PassName;
  readonly tool: string;
  readonly rep: number;
  readonly ms: number;
  readonly code: number | null;
  /** Exit 0 and the check held. */
  readonly ok: boolean;
  /** Why not ok: exit code, missing objects, writes during a no-op. */
  readonly problem?: string;
  readonly peakRssKiB?: number;
  /** CPU time of the contender's process (the server's not included). */
  readonly cpuMs?: number;
  /** 1-minute load average when the pass ended: the machine is shared, this says how much. */
  readonly load1: number;
  /** Server-side counters for this pass alone. */
  readonly server: S3ServerStats;
  /** Files in the local folder (for requests per file). */
  readonly files: number;
}

export type Check =
  /** The bucket must hold exactly the local files with their sizes. */
  | { readonly kind: 'mirror' }
  /** Nothing may be written (a no-op); also the mirror check unless `mirror` is false. */
  | { readonly kind: 'no-writes'; readonly mirror: boolean }
  | { readonly kind: 'none' };

export interface PassRun {
  readonly server: S3Server;
  readonly tool: Tool;
  readonly target: Target;
  readonly pass: PassName;
  readonly rep: number;
  readonly check: Check;
  /** Files in target.local. */
  readonly files: number;
  readonly env: NodeJS.ProcessEnv;
  /** stdout/stderr of the tool go to `<logPrefix>.out` / `.err`. */
  readonly logPrefix: string;
}

export async function runPass(r: PassRun): Promise<PassResult> {
  await r.server.resetStats();
  const m = await measure(await r.tool.invocation(r.target), { logPrefix: r.logPrefix, env: { ...r.env, ...r.server.env } });
  const server = await r.server.stats();
  let problem: string | undefined;
  if (m.code !== 0) problem = `exit ${m.code ?? m.signal}: ${m.tail.split('\n').slice(-3).join(' | ').slice(0, 400)}`;
  else if (r.check.kind === 'no-writes' && (server.puts > 0 || server.copies > 0)) problem = `a no-op wrote: ${server.puts} PUTs, ${server.copies} copies`;
  if (!problem && (r.check.kind === 'mirror' || (r.check.kind === 'no-writes' && r.check.mirror))) {
    problem = await mirrorProblem(r.server.client(), r.target.bucket, r.target.local);
  }
  return {
    pass: r.pass,
    tool: r.tool.id,
    rep: r.rep,
    ms: Math.round(m.ms),
    code: m.code,
    ok: problem === undefined,
    ...(problem ? { problem } : {}),
    ...(m.peakRssKiB !== undefined ? { peakRssKiB: m.peakRssKiB } : {}),
    ...(m.cpuMs !== undefined ? { cpuMs: Math.round(m.cpuMs) } : {}),
    load1: Number((os.loadavg()[0] ?? 0).toFixed(2)),
    server,
    files: r.files,
  };
}
