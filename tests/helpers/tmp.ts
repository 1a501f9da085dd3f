// Temp folders and small file helpers for tests: real folders under os.tmpdir(), removed after.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TmpDir {
  /** Absolute path of the fresh, empty folder. */
  readonly path: string;
  /** Removes the folder and everything in it; safe to call twice. */
  cleanup(): Promise<void>;
}

/**
 * Creates a fresh folder under os.tmpdir().
 * @param prefix name prefix of the folder. @default 'sync-agent-test-'
 */
export async function tmpDir(prefix = 'sync-agent-test-'): Promise<TmpDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return {
    path: dir,
    cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/** Writes `{ 'a/b.txt': 'content' }` under root, creating folders as needed. */
export async function writeFiles(root: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** Writes `size` random bytes to `file` (in 1 MiB chunks) and returns them. */
export async function writeRandomFile(file: string, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let left = size; left > 0; left -= 1024 * 1024) chunks.push(randomBytes(Math.min(left, 1024 * 1024)));
  const data = Buffer.concat(chunks, size);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, data);
  return data;
}

export interface ReadTreeOptions {
  /** Return Buffers instead of UTF-8 strings. @default false */
  readonly binary?: boolean;
  /** Paths ('/'-separated, relative) to leave out, with everything below them. @default none */
  readonly ignore?: (relPath: string) => boolean;
}

/** Every file under root as `{ 'a/b.txt': content }` (folders are implied, not listed). */
export async function readTree(root: string, opts?: ReadTreeOptions & { binary?: false }): Promise<Record<string, string>>;
export async function readTree(root: string, opts: ReadTreeOptions & { binary: true }): Promise<Record<string, Buffer>>;
export async function readTree(root: string, opts: ReadTreeOptions = {}): Promise<Record<string, string | Buffer>> {
  const out: Record<string, string | Buffer> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (opts.ignore?.(childRel)) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, childRel);
      else if (entry.isFile()) out[childRel] = opts.binary ? await readFile(full) : await readFile(full, 'utf8');
    }
  };
  await walk(root, '');
  return out;
}

export interface WaitForOptions {
  /** Give up after this long; generous because the test machine is shared. @default 30000 */
  readonly timeoutMs?: number;
  /** Pause between checks. @default 50 */
  readonly intervalMs?: number;
  /** Said in the error when the deadline passes. @default 'condition' */
  readonly what?: string;
}

/** Polls `check` until it returns a value other than false/undefined; rejects after the deadline. */
export async function waitFor<T>(check: () => T | false | undefined | Promise<T | false | undefined>, opts: WaitForOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50));
  }
}
