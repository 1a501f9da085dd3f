// What the runner knows about a contender (the agent, a floor, or a peer): is it installed, and
// which process syncs a local folder into a bucket on the local S3 server.

import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One sync of `local` into `bucket`, as the scenario asks. */
export interface Target {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Absolute local folder to mirror into the bucket. */
  readonly local: string;
  /** Scratch folder of this contender in this repetition (configs, state); kept across passes. */
  readonly work: string;
  /** Files in flight for contenders whose concurrency the bench sets (agent, floors). */
  readonly concurrency: number;
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION… of the server. */
  readonly env: Readonly<Record<string, string>>;
}

export interface Invocation {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the bench's own environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export type Availability = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

export type Role = 'agent' | 'floor' | 'limit' | 'peer';

export interface Tool {
  /** Short id, also used in bucket names: lowercase letters, digits and dashes. */
  readonly id: string;
  /** As shown in the results table. */
  readonly label: string;
  readonly role: Role;
  detect(): Promise<Availability>;
  invocation(target: Target): Promise<Invocation>;
}

/**
 * Finds an executable: the system's /usr/bin first (the Debian packages the issue names), then
 * PATH. A user-level shim of another version earlier on PATH would otherwise win silently.
 */
export async function findBinary(name: string): Promise<string | undefined> {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next folder
    }
  }
  return undefined;
}

/** First line of `<command> <args>` (stdout, else stderr), or a note when it fails. */
export async function versionLine(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, [...args], { timeout: 30_000 });
    return (stdout.trim() || stderr.trim()).split('\n')[0] ?? '';
  } catch (e) {
    return `version unknown (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
}

/** A tool backed by a binary: "not installed" when it is missing, never a failure. */
export async function detectBinary(name: string, versionArgs: readonly string[]): Promise<Availability & { path?: string }> {
  const file = await findBinary(name);
  if (!file) return { ok: false, reason: `not installed (${name} not found)` };
  return { ok: true, version: `${await versionLine(file, versionArgs)} (${file})`, path: file };
}

/** The bench's own environment without the machine's AWS or rclone settings (a CA bundle, a profile). */
export function benchEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|RCLONE_)/.test(k)) env[k] = v;
  // The SDK's Node 22 notice is printed by every SDK process; noise in the logs.
  return { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_EC2_METADATA_DISABLED: 'true' };
}
