// The fs provider: the conformance suite on a temp folder, plus what only a folder can get wrong.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { UNPRIVILEGED } from '../helpers/unprivileged.js';
import { createFsProvider, FS_TMP_PREFIX, FsProvider } from '../../providers/fs.js';
import { isProviderError } from '../../providers/provider.js';
import { readTree, tmpDir, writeFiles } from '../helpers/tmp.js';
import { conformance, listAll } from './conformance.js';

conformance('fs', async () => {
  const dir = await tmpDir('sync-agent-fs-remote-');
  return { provider: createFsProvider({ root: dir.path }), cleanup: dir.cleanup };
});

test('fs: a missing root folder throws, never lists as empty', async (t) => {
  const dir = await tmpDir();
  try {
    const p = createFsProvider({ root: path.join(dir.path, 'unmounted') });
    const err = await t.throwsAsync(listAll(p));
    t.true(isProviderError(err) && (err.kind === 'not-found' || err.kind === 'other'));
    t.regex(err?.message ?? '', /unmounted.*mounted\?/);
    // A first run may create it (the agent asks only when its manifest is empty).
    await p.createRoot?.();
    t.deepEqual((await listAll(p)).objects, []);
  } finally {
    await dir.cleanup();
  }
});

/** Lists `root` and reports how it failed; as root (who reads everything) it lists without the capabilities that bypass permissions. */
async function listingFailure(root: string): Promise<{ kind?: string; message?: string }> {
  const script = `const { createFsProvider } = await import(process.argv[1]);
    try { for await (const _ of createFsProvider({ root: process.argv[2] }).list()); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ kind: e.kind, message: e.message })); }`;
  if (process.getuid?.() !== 0) {
    const err = await listAll(createFsProvider({ root })).then(() => undefined, (e: unknown) => e);
    return isProviderError(err) ? { kind: err.kind, message: err.message } : {};
  }
  const fsModule = fileURLToPath(new URL('../../providers/fs.ts', import.meta.url));
  if (!UNPRIVILEGED) throw new Error('running as root without setpriv: cannot drop the permission-bypassing capabilities');
  const [cmd, ...pre] = [...UNPRIVILEGED, process.execPath];
  const child = spawn(cmd!, [...pre, '--import', 'tsx', '--input-type=module', '-e', script, fsModule, root], {
    cwd: path.dirname(path.dirname(fsModule)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'exit');
  return JSON.parse(out.trim() || '{}') as { kind?: string; message?: string };
}

test('fs: an unreadable subfolder fails the listing', async (t) => {
  const dir = await tmpDir();
  try {
    await chmod(dir.path, 0o755); // so that `nobody` can enter the root itself
    await writeFiles(dir.path, { 'ok.txt': 'x', 'locked/secret.txt': 'y' });
    await chmod(path.join(dir.path, 'locked'), 0o000);
    const failure = await listingFailure(dir.path);
    t.is(failure.kind, 'denied');
    t.regex(failure.message ?? '', /locked.*permissions/);
  } finally {
    await chmod(path.join(dir.path, 'locked'), 0o755);
    await dir.cleanup();
  }
});

test('fs: paths that could leave the root are refused', async (t) => {
  const dir = await tmpDir();
  try {
    const p = createFsProvider({ root: path.join(dir.path, 'root') });
    await writeFile(path.join(dir.path, 'outside.txt'), 'outside');
    for (const bad of ['../outside.txt', 'a/../../outside.txt', '/etc/passwd', 'a//b.txt', './a.txt', '', 'a/']) {
      const err = await t.throwsAsync(p.stat(bad), undefined, JSON.stringify(bad));
      t.true(isProviderError(err) && err.kind === 'invalid-key', `${JSON.stringify(bad)}: ${String(err)}`);
      await t.throwsAsync(p.upload(bad, path.join(dir.path, 'outside.txt'), { mtimeMs: 0, size: 7 }));
      await t.throwsAsync(p.delete(bad));
    }
    t.deepEqual(await readTree(dir.path), { 'outside.txt': 'outside' });
  } finally {
    await dir.cleanup();
  }
});

test('fs: temp files are not listed; an upload leaves no temp file behind', async (t) => {
  const dir = await tmpDir();
  const src = await tmpDir();
  try {
    await writeFiles(dir.path, { [`a/${FS_TMP_PREFIX}abc`]: 'partial', 'a/real.txt': 'real' });
    await writeFiles(src.path, { 'f.txt': 'new' });
    const p = createFsProvider({ root: dir.path });
    t.deepEqual((await listAll(p)).objects.map((o) => o.path), ['a/real.txt']);
    await p.upload('b/c/new.txt', path.join(src.path, 'f.txt'), { mtimeMs: Date.now(), size: 3 });
    t.deepEqual(await readdir(path.join(dir.path, 'b', 'c')), ['new.txt']);
  } finally {
    await dir.cleanup();
    await src.cleanup();
  }
});

test('fs: delete and move remove folders left empty, never the root', async (t) => {
  const dir = await tmpDir();
  try {
    await writeFiles(dir.path, { 'a/b/c/one.txt': '1', 'a/two.txt': '2', 'x/y/three.txt': '3' });
    const p = new FsProvider({ root: dir.path });
    await p.delete('a/b/c/one.txt');
    t.deepEqual(await readdir(dir.path), ['a', 'x']);
    t.deepEqual(await readdir(path.join(dir.path, 'a')), ['two.txt'], 'a/b/c and a/b are gone, a stays');
    await p.move('x/y/three.txt', 'z/three.txt');
    await p.delete('a/two.txt');
    t.deepEqual(await readdir(dir.path), ['z']);
    await p.delete('z/three.txt');
    t.true((await stat(dir.path)).isDirectory(), 'the root stays');
    t.deepEqual(await readdir(dir.path), []);
  } finally {
    await dir.cleanup();
  }
});

test('fs: features name the root', async (t) => {
  const dir = await tmpDir();
  try {
    await mkdir(path.join(dir.path, 'r'));
    const p = createFsProvider({ root: path.relative(process.cwd(), path.join(dir.path, 'r')) });
    t.deepEqual({ ...p.features }, { name: 'fs', hash: 'md5', remoteId: `fs:${path.join(dir.path, 'r')}` });
  } finally {
    await dir.cleanup();
  }
});
