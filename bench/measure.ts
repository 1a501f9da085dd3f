// Runs one contender's process and measures it from the outside: wall time from spawn to exit
// (startup included, as a user waits for it) and peak resident memory (VmHWM, sampled).

import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import type { Invocation } from './tool.js';

export interface Measured {
  readonly ms: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Peak RSS of the process (not its children) in KiB, as last sampled; undefined if never read. */
  readonly peakRssKiB: number | undefined;
  /** CPU time (user + system, its waited-for children included) in ms, as last sampled. */
  readonly cpuMs: number | undefined;
  /** Last lines of stderr then stdout, for failures. */
  readonly tail: string;
}

export interface MeasureOptions {
  /** stdout and stderr go to `<logPrefix>.out` / `.err`. */
  readonly logPrefix: string;
  /** Base environment (the bench's own plus the server's keys). */
  readonly env: NodeJS.ProcessEnv;
  /** Killed after this long. @default 1_800_000 (30 min) */
  readonly timeoutMs?: number;
  /** VmHWM sampling period. @default 25 */
  readonly sampleMs?: number;
  readonly cwd?: string;
}

/** VmHWM of a live process in KiB, or undefined once it is gone. */
async function peakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** utime + stime + cutime + cstime of a live process in ms, or undefined once it is gone. */
async function cpuTime(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), counted from field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i] ?? 0), 0);
    return (ticks * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}

async function tailOf(file: string, bytes = 2000): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.slice(-bytes);
}

export async function measure(inv: Invocation, opts: MeasureOptions): Promise<Measured> {
  const out = await open(`${opts.logPrefix}.out`, 'w');
  const err = await open(`${opts.logPrefix}.err`, 'w');
  try {
    const started = process.hrtime.bigint();
    const child = spawn(inv.command, [...inv.args], {
      cwd: opts.cwd,
      env: { ...opts.env, ...inv.env },
      // Straight to files: the bench process never becomes the reader a tool waits on.
      stdio: ['ignore', out.fd, err.fd],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    let peak: number | undefined;
    let cpu: number | undefined;
    let running = true;
    // VmHWM and CPU times only grow, so the last reading before exit is the total (within one
    // sample period).
    const sampler = (async () => {
      while (running && child.pid !== undefined) {
        const [v, c] = await Promise.all([peakRss(child.pid), cpuTime(child.pid)]);
        if (v !== undefined && running) peak = Math.max(peak ?? 0, v);
        if (c !== undefined && running) cpu = Math.max(cpu ?? 0, c);
        await new Promise((r) => setTimeout(r, opts.sampleMs ?? 25));
      }
    })();
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 1_800_000);
    const { code, signal } = await exited.finally(() => {
      running = false;
      clearTimeout(timer);
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    await sampler;
    const tail = `${await tailOf(`${opts.logPrefix}.err`)}\n${await tailOf(`${opts.logPrefix}.out`)}`.trim();
    return { ms, code, signal, peakRssKiB: peak, cpuMs: cpu, tail };
  } finally {
    await out.close();
    await err.close();
  }
}
