// Runs the real CLI (bin/sync-agent.js) as a child process, the way users and scripts do.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/sync-agent.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON log lines (non-JSON lines are left out). */
  readonly logs: readonly Record<string, unknown>[];
}

export const parseLogs = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

/** Environment for a test run: fast retries, no AWS config from the machine. */
export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SYNC_AGENT_RETRY_MIN_MS: '20', SYNC_AGENT_RETRIES: '2', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
  delete env.AWS_PROFILE;
  // package.json's ava settings quiet the SDK's Node-version warning in the test processes; the
  // CLI must quiet it itself, as a user's shell does not set this.
  if (!('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED' in extra)) delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}

export function runCli(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: opts.env ?? testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, logs: parseLogs(stdout) });
    });
  });
}

/** Starts the CLI in the background (the daemon); the caller stops it. */
export function startCli(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: opts.env ?? testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Writes agent.config.json into `dir` and returns its path. */
export async function writeConfig(dir: string, config: unknown): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'agent.config.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** Waits until `check` returns a truthy value, polling; throws with `what` after the deadline. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The summary line of a pass that had nothing to do. */
export const NOTHING = 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0';

export const summaryOf = (r: CliResult): string | undefined => r.logs.find((l) => l.event === 'summary')?.msg as string | undefined;
