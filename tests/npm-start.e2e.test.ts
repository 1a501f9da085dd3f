// `npm start` runs the daemon on the committed agent.config.json: ./sync <-> ./remote (fs remote).
// Run here on a copy of that config in a temp folder, so the checkout stays clean.

import test from 'ava';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { tmpDir, waitFor } from './helpers/tmp.js';
import { startCli } from './helpers/cli.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

test('the committed config syncs ./sync with ./remote, keeps running, and stops cleanly', async (t) => {
  const dir = await tmpDir('npm-start-');
  t.teardown(() => dir.cleanup());
  await copyFile(path.join(REPO, 'agent.config.json'), path.join(dir.path, 'agent.config.json'));
  await copyFile(path.join(REPO, 'agent.config.schema.json'), path.join(dir.path, 'agent.config.schema.json'));
  await mkdir(path.join(dir.path, 'sync'));
  await writeFile(path.join(dir.path, 'sync', 'before.txt'), 'there before the start');

  const { child, output } = startCli([], { cwd: dir.path });
  t.teardown(() => void child.kill('SIGKILL'));
  await waitFor(async () => (await readFile(path.join(dir.path, 'remote', 'before.txt'), 'utf8').catch(() => '')) === 'there before the start', {
    timeoutMs: 60_000,
    what: 'the first pass to copy before.txt',
  });
  await writeFile(path.join(dir.path, 'sync', 'live.txt'), 'written while it runs');
  await waitFor(async () => (await readFile(path.join(dir.path, 'remote', 'live.txt'), 'utf8').catch(() => '')) === 'written while it runs', {
    timeoutMs: 60_000,
    what: 'the watcher to push live.txt',
  });
  t.is(child.exitCode, null, 'still running');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 0, output());
});
