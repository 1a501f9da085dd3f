// Two machines, one bucket: two configs on two local folders sync the same bucket and prefix in
// `both` mode, each with its own manifest. Passes alternate; both folders converge on the same
// tree, and no edit is lost: a concurrent edit of one file leaves a conflict copy on both.

import test, { type ExecutionContext } from 'ava';
import { rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf } from './helpers/cli.js';
import { readTree, writeFiles } from './helpers/tmp.js';
import { createWorld, type World } from './helpers/world.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

/** Machines A and B on one fresh bucket, same prefix. */
async function machines(t: ExecutionContext): Promise<{ a: World; b: World }> {
  const a = await createWorld(server);
  t.teardown(() => a.cleanup());
  const b = await createWorld(server, { bucket: a.bucket });
  t.teardown(() => b.cleanup());
  return { a, b };
}

async function pass(t: ExecutionContext, w: World, label: string): Promise<string | undefined> {
  const r = await w.run();
  t.is(r.code, 0, `${label}: ${r.stderr}`);
  return summaryOf(r);
}

/** Both folders and the bucket hold exactly `expected`, or (without it) the same tree; returns it. */
async function assertConverged(t: ExecutionContext, a: World, b: World, expected?: Record<string, string>): Promise<Record<string, string>> {
  const treeA = await readTree(a.local);
  t.deepEqual(await readTree(b.local), treeA, 'both folders hold the same files');
  if (expected) t.deepEqual(treeA, expected);
  t.deepEqual(await a.keys(), Object.keys(treeA).sort(), 'the bucket holds the same keys');
  for (const [k, v] of Object.entries(treeA)) t.is((await a.get(k))?.toString(), v, k);
  return treeA;
}

const setMtime = async (file: string, when: Date): Promise<void> => utimes(file, when, when);

test('edits, additions and deletes on each machine converge, nothing lost', async (t) => {
  const { a, b } = await machines(t);
  await writeFiles(a.local, { 'a/notes.txt': 'A notes v1', 'shared.txt': 'shared v1', 'old.txt': 'to be deleted', 'keep.txt': 'k' });
  await writeFiles(b.local, { 'b/todo.txt': 'B todo v1' });
  await pass(t, a, 'A first');
  t.is(await pass(t, b, 'B first'), 'uploaded 1, downloaded 4, deleted 0, conflicts 0, failed 0');
  await pass(t, a, 'A picks up B');
  await assertConverged(t, a, b);

  // Round 2: each machine edits its own files and adds one; A deletes old.txt.
  await writeFile(path.join(a.local, 'a/notes.txt'), 'A notes v2');
  await writeFile(path.join(a.local, 'a/new.txt'), 'A new');
  await rm(path.join(a.local, 'old.txt'));
  await writeFile(path.join(b.local, 'b/todo.txt'), 'B todo v2');
  await writeFile(path.join(b.local, 'shared.txt'), 'shared v2 by B');
  await pass(t, a, 'A round 2');
  await pass(t, b, 'B round 2');
  await pass(t, a, 'A round 2 again');
  await assertConverged(t, a, b, {
    'a/notes.txt': 'A notes v2',
    'a/new.txt': 'A new',
    'b/todo.txt': 'B todo v2',
    'keep.txt': 'k',
    'shared.txt': 'shared v2 by B',
  });

  // Round 3: B deletes a file A edits meanwhile: the edit beats the delete on both machines.
  await rm(path.join(b.local, 'keep.txt'));
  await pass(t, b, 'B deletes keep.txt');
  await writeFile(path.join(a.local, 'keep.txt'), 'k edited by A');
  t.is(await pass(t, a, 'A edited keep.txt'), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  await pass(t, b, 'B gets it back');
  const tree = await assertConverged(t, a, b);
  t.is(tree['keep.txt'], 'k edited by A');
  t.is(await pass(t, a, 'A quiet'), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.is(await pass(t, b, 'B quiet'), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
});

test('a concurrent edit of one file leaves both versions on both machines', async (t) => {
  const { a, b } = await machines(t);
  await writeFiles(a.local, { 'doc.txt': 'base', 'other.txt': 'o' });
  await pass(t, a, 'A first');
  await pass(t, b, 'B first');
  const base = Date.now();
  await writeFile(path.join(a.local, 'doc.txt'), "A's edit");
  await setMtime(path.join(a.local, 'doc.txt'), new Date(base + 60_000));
  await writeFile(path.join(b.local, 'doc.txt'), "B's later edit");
  await setMtime(path.join(b.local, 'doc.txt'), new Date(base + 120_000));

  await pass(t, a, 'A uploads its edit');
  t.is(await pass(t, b, 'B meets the conflict'), 'uploaded 0, downloaded 0, deleted 0, conflicts 1, failed 0');
  await pass(t, a, 'A picks up the outcome');
  const tree = await assertConverged(t, a, b);
  t.is(tree['doc.txt'], "B's later edit", 'the newer edit keeps the name');
  const copies = Object.keys(tree).filter((p) => /^doc\.sync-conflict-\d{8}-\d{6}-remote\.txt$/.test(p));
  t.deepEqual(copies.map((c) => tree[c]), ["A's edit"], "A's edit is kept as a conflict copy on both");
  t.is(await pass(t, b, 'B quiet'), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.is(await pass(t, a, 'A quiet'), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
});

test('the same new path created on both machines with different content: both kept', async (t) => {
  const { a, b } = await machines(t);
  await writeFiles(a.local, { 'seed.txt': 's' });
  await pass(t, a, 'A first');
  await pass(t, b, 'B first');
  await writeFile(path.join(a.local, 'report.md'), 'report written on A');
  await setMtime(path.join(a.local, 'report.md'), new Date(Date.now() + 120_000));
  await writeFile(path.join(b.local, 'report.md'), 'report written on B');
  await setMtime(path.join(b.local, 'report.md'), new Date(Date.now() - 120_000));
  await pass(t, a, 'A uploads');
  await pass(t, b, 'B conflicts');
  await pass(t, a, 'A downloads the copy');
  const tree = await assertConverged(t, a, b);
  t.is(tree['report.md'], 'report written on A');
  const copies = Object.keys(tree).filter((p) => /^report\.sync-conflict-\d{8}-\d{6}-local\.md$/.test(p));
  t.deepEqual(copies.map((c) => tree[c]), ['report written on B']);
});
