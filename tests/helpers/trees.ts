// Compares whole trees by content digest (md5 and size per path) instead of by bytes: ava's
// deepEqual on megabyte Buffers takes minutes, and a digest diff reads better when it fails.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RawRemote } from './world.js';

/** `md5:size` of some bytes. */
export const digest = (bytes: Buffer | string): string => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return `${createHash('md5').update(b).digest('hex')}:${b.length}`;
};

/** `{ path: digest }` of an in-memory tree (what a test expects). */
export const digests = (tree: Readonly<Record<string, Buffer | string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(tree).map(([p, b]) => [p, digest(b)]));

/** Every regular file under `root` (agent temp files included, so leftovers show) as `{ path: digest }`. */
export async function localDigests(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out[path.relative(root, full).split(path.sep).join('/')] = digest(await readFile(full));
  }
  return out;
}

/** Every object under the world's prefix as `{ key: digest }`. */
export async function remoteDigests(remote: RawRemote): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of await remote.keys()) out[k] = digest((await remote.get(k)) ?? Buffer.alloc(0));
  return out;
}

/** Paths under `root` named like the agent's temp files (`.sync-agent-tmp-*`): a download that never finished. */
export async function agentTempFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.filter((e) => path.basename(e).startsWith('.sync-agent-tmp-')).sort();
}

/** Paths that are conflict copies (`*.sync-conflict-*`). */
export const conflictCopies = (paths: Iterable<string>): string[] => [...paths].filter((p) => p.includes('.sync-conflict-')).sort();
