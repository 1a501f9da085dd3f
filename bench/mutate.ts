// The incremental scenario's edit: in a working copy of the corpus, change 1% of the small files
// (new bytes and a new size, so every tool's comparison notices), add 1%, delete 1%.
// Working copies are hard-link trees (`cp -al`): edits write a new file and rename it over the
// link, so the shared original corpus is never modified.

import { execFile } from 'node:child_process';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { keystream, prng, smallContent, type Corpus } from './corpus.js';

const run = promisify(execFile);

export interface Mutation {
  readonly changed: readonly string[];
  readonly added: readonly string[];
  readonly deleted: readonly string[];
}

/** A hard-link copy of `from` at `to` (replacing `to`): instant, and edits by rename stay local. */
export async function linkCopy(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(path.dirname(to), { recursive: true });
  await run('cp', ['-al', from, to]);
}

/**
 * Applies the edit to the copy at `root`. `fraction` of the small files each is changed, added
 * and deleted (at least one of each); `label` makes the picks differ between repetitions.
 * @param fraction @default 0.01
 */
export async function mutate(corpus: Corpus, root: string, label: string, fraction = 0.01): Promise<Mutation> {
  const small = corpus.files.map((f, i) => ({ ...f, i })).filter((f) => !f.path.startsWith('big/'));
  const n = Math.max(1, Math.round(small.length * fraction));
  const rand = prng(`${corpus.options.seed}/mutate/${label}`);
  // A random permutation prefix: the first n are changed, the next n deleted.
  const order = small.map((f) => ({ f, r: rand() })).sort((a, b) => a.r - b.r).map((x) => x.f);
  const changedFiles = order.slice(0, n);
  const deletedFiles = order.slice(n, 2 * n);
  const pool = keystream(corpus.options.seed, `pool/${label}`, 1024 * 1024);

  for (const f of changedFiles) {
    const abs = path.join(root, f.path);
    const tmp = `${abs}.bench-tmp`;
    await writeFile(tmp, smallContent(pool, corpus.options.seed, f.i, Math.min(f.size + 17, pool.length / 2), `changed-${label}`));
    await rename(tmp, abs);
  }
  for (const f of deletedFiles) await unlink(path.join(root, f.path));
  const added: string[] = [];
  for (let k = 0; k < n; k++) {
    const near = order[(2 * n + k) % order.length] ?? order[0];
    if (!near) break;
    const rel = `${path.posix.dirname(near.path)}/added-${label}-${String(k).padStart(5, '0')}.dat`;
    await writeFile(path.join(root, rel), smallContent(pool, corpus.options.seed, k, near.size, `added-${label}`));
    added.push(rel);
  }
  return { changed: changedFiles.map((f) => f.path), added, deleted: deletedFiles.map((f) => f.path) };
}
