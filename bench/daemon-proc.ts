// The daemon under bench/daemon.ts: the real CLI (`bin/sync-agent.js --config <cfg>`, no
// --reconcile) in the background, its JSON log lines counted per bench phase, and waits on what a
// user would see (the `ready` line, uploads logged, the status file saying nothing is pending).

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/sync-agent.js', import.meta.url));

export interface LogLine {
  readonly event?: string;
  readonly path?: string;
  readonly reason?: string;
  readonly [k: string]: unknown;
}

export interface DaemonProcOptions {
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  /** Every line it prints goes here too. */
  readonly logFile: string;
  /** Node flags before the script (e.g. --heapsnapshot-signal=SIGUSR2). @default [] */
  readonly nodeArgs?: readonly string[];
  /** Tags each log line with the bench's phase when it arrived. */
  readonly phase: () => string;
  /**
   * Loads a probe into the daemon that prints `process.memoryUsage()`, V8's heap spaces and the
   * number of fs.watch handles to stderr every second: where the RSS goes (V8 heap or outside
   * it). Costs a timer and a list of the process's handles per second. @default false
   */
  readonly probe?: boolean;
  /** What node runs instead of bin/sync-agent.js (flags and script). @default [bin/sync-agent.js] */
  readonly entry?: readonly string[];
}

/** What the probe prints: process.memoryUsage() in bytes, and used bytes per V8 heap space. */
export interface MemReport {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly spaces: Record<string, number>;
  /** fs.watch handles open (one inotify watch each). */
  readonly watches?: number;
}

const MEM_PREFIX = 'SYNC_AGENT_BENCH_MEM ';
/** A data: URL module (no file, no TS loader needed), loaded with --import before the CLI. */
const PROBE =
  'data:text/javascript,import v8 from "node:v8";' +
  `const f=()=>process.stderr.write("${MEM_PREFIX}"+JSON.stringify({...process.memoryUsage(),` +
  'spaces:Object.fromEntries(v8.getHeapSpaceStatistics().map(s=>[s.space_name,s.space_used_size])),' +
  'watches:process.getActiveResourcesInfo().filter(r=>r==="FSEventWrap").length})+"\\n");' +
  'setInterval(f,1000).unref();';

export class DaemonProc {
  readonly child: ChildProcess;
  /** Log lines with the phase they arrived in. */
  readonly lines: { phase: string; line: LogLine }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The probe's readings (with `probe: true`), tagged with the phase. */
  readonly mem: ({ phase: string; at: number } & MemReport)[] = [];
  #tail = '';

  constructor(o: DaemonProcOptions) {
    this.child = spawn(process.execPath, [...(o.probe ? ['--import', PROBE] : []), ...(o.nodeArgs ?? []), ...(o.entry ?? [BIN]), '--config', o.config], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(o.logFile);
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) this.#take(l, o.phase());
    });
    let partialErr = '';
    this.child.stderr?.on('data', (chunk: Buffer) => {
      const text = partialErr + chunk.toString();
      const parts = text.split('\n');
      partialErr = parts.pop() ?? '';
      for (const l of parts) {
        if (l.startsWith(MEM_PREFIX)) this.mem.push({ phase: o.phase(), at: Date.now(), ...(JSON.parse(l.slice(MEM_PREFIX.length)) as MemReport) });
        else {
          log.write(`${l}\n`);
          this.#tail = (this.#tail + l + '\n').slice(-2000);
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        log.end();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the daemon did not start');
    return this.child.pid;
  }

  #take(text: string, phase: string): void {
    this.#tail = (this.#tail + text + '\n').slice(-2000);
    if (!text.startsWith('{')) return;
    try {
      this.lines.push({ phase, line: JSON.parse(text) as LogLine });
    } catch {
      // a torn line: not an event
    }
  }

  /** Lines of `event` (all phases, or one). */
  events(event: string, phase?: string): LogLine[] {
    return this.lines.filter((l) => l.line.event === event && (phase === undefined || l.phase === phase)).map((l) => l.line);
  }

  /** Last output, for errors. */
  tail(): string {
    return this.#tail;
  }

  /** Polls `check` until it returns true; fails early when the daemon exits. */
  async waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the daemon exited while waiting for ${what}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

interface StatusView { updatedAt: string; pendingPaths: number; inFlight: number; oldestUnsyncedMs?: number }

/** The pair's status file says nothing is pending or in flight, as of `after` (epoch ms) or later. */
export async function statusSettled(stateDir: string, pair: string, after: number): Promise<boolean> {
  try {
    const s = JSON.parse(await readFile(path.join(stateDir, `${pair}.status.json`), 'utf8')) as StatusView;
    return Date.parse(s.updatedAt) >= after && s.pendingPaths === 0 && s.inFlight === 0 && s.oldestUnsyncedMs === undefined;
  } catch {
    return false; // not written yet, or caught mid-rename
  }
}

/** Runs `node --import tsx <args>` to the end; resolves with its stdout, rejects on a failure. */
export function runNode(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`node ${args.join(' ')} exited ${code}:\n${err}`))));
  });
}
