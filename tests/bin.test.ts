// bin/sync-agent.js runs the prebuilt dist/ only when it was built from the sources as they are
// now, and the TypeScript sources through tsx otherwise (no dist/, a source edited since the build,
// a changed lock file, a failed build, SYNC_AGENT_SOURCE=1). Each case runs a real --reconcile with
// an fs remote.
//
// All of it happens in a copy of the checkout in a temp folder (node_modules linked), so the
// repository's own dist/ is never touched. The sign that dist/ ran: after each build a line is
// appended to the built dist/cli.js that the sources do not have; changing a built file
// does not change the fingerprint of the sources, so bin still picks dist/.

import test from 'ava';
import { spawn } from 'node:child_process';
import { access, appendFile, cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEnv, writeConfig } from './helpers/cli.js';
import { tmpDir, type TmpDir } from './helpers/tmp.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MARK = 'ran the built dist/cli.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = testEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A copy of what bin and the build need, without dist/. */
async function copyCheckout(dir: string): Promise<string> {
  const root = path.join(dir, 'checkout');
  for (const folder of ['agent', 'providers', 'state', 'bin']) await cp(path.join(REPO, folder), path.join(root, folder), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json']) await cp(path.join(REPO, file), path.join(root, file));
  await symlink(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  return root;
}

/** `npm run build` in the copy (a bundle, no type checking: that is `npm run typecheck`'s job). */
async function build(root: string): Promise<Run> {
  const result = await run('npm', ['run', 'build'], root, { ...process.env });
  // The sign that the built JavaScript ran, whenever it runs.
  await appendFile(path.join(root, 'dist', 'cli.js'), `\nprocess.stderr.write(${JSON.stringify(MARK + '\n')});\n`).catch(() => undefined);
  return result;
}

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

/** A one-pair world (fs remote) beside the checkout; each pass must copy a new file across. */
async function makeWorld(dir: string): Promise<{ world: string; pass: (root: string, env?: NodeJS.ProcessEnv) => Promise<Run & { copied: boolean }> }> {
  const world = path.join(dir, 'world');
  await mkdir(path.join(world, 'sync'), { recursive: true });
  await writeConfig(world, { stateDir: '.sync-agent', pairs: [{ name: 'docs', local: './sync', remote: { provider: 'fs', path: './remote' } }] });
  let n = 0;
  const pass = async (root: string, env?: NodeJS.ProcessEnv) => {
    n += 1;
    const name = `file-${n}.txt`;
    await writeFile(path.join(world, 'sync', name), `pass ${n}`);
    const result = await run(process.execPath, [path.join(root, 'bin', 'sync-agent.js'), '--reconcile'], world, env);
    const copied = (await readFile(path.join(world, 'remote', name), 'utf8').catch(() => '')) === `pass ${n}`;
    return { ...result, copied };
  };
  return { world, pass };
}

let dir: TmpDir;
let root: string;
let pass: Awaited<ReturnType<typeof makeWorld>>['pass'];

test.before(async () => {
  dir = await tmpDir('sync-agent-bin-');
  root = await copyCheckout(dir.path);
  ({ pass } = await makeWorld(dir.path));
});
test.after.always(() => dir?.cleanup());

// Serial: the cases share the copy and move it from one state to the next.
test.serial('without dist/ the CLI runs the sources', async (t) => {
  const r = await pass(root);
  t.is(r.code, 0, r.stderr);
  t.true(r.copied);
  t.false(r.stderr.includes(MARK));
});

test.serial('after npm run build the CLI runs the built JavaScript; SYNC_AGENT_SOURCE=1 runs the sources', async (t) => {
  const b = await build(root);
  t.is(b.code, 0, b.stderr);
  t.true(await exists(path.join(root, 'dist', '.build-stamp')));
  t.true(await exists(path.join(root, 'dist', 'cli.js.map')), 'a source map beside the bundle');
  t.false(await exists(path.join(root, 'dist', 'agent')), 'one bundle, not a file per source');
  t.false(await exists(path.join(root, 'dist', 'tests')), 'tests are not built');

  const built = await pass(root);
  t.is(built.code, 0, built.stderr);
  t.true(built.copied);
  t.true(built.stderr.includes(MARK), built.stderr);

  const forced = await pass(root, testEnv({ SYNC_AGENT_SOURCE: '1' }));
  t.is(forced.code, 0, forced.stderr);
  t.true(forced.copied);
  t.false(forced.stderr.includes(MARK));
});

test.serial('a source edited after the build runs the sources until the next build', async (t) => {
  await appendFile(path.join(root, 'agent', 'paths.ts'), '\n// edited after the build\n');
  const stale = await pass(root);
  t.is(stale.code, 0, stale.stderr);
  t.true(stale.copied);
  t.false(stale.stderr.includes(MARK), 'dist/ is older than the sources');

  // A new source file counts as an edit too.
  t.is((await build(root)).code, 0);
  t.true((await pass(root)).stderr.includes(MARK));
  await writeFile(path.join(root, 'providers', 'added.ts'), 'export const added = 1;\n');
  const added = await pass(root);
  t.is(added.code, 0, added.stderr);
  t.false(added.stderr.includes(MARK));

  // The packages are bundled too: another lock file means other dependency code.
  t.is((await build(root)).code, 0);
  t.true((await pass(root)).stderr.includes(MARK));
  await writeFile(path.join(root, 'package-lock.json'), '{}\n');
  const relocked = await pass(root);
  t.is(relocked.code, 0, relocked.stderr);
  t.false(relocked.stderr.includes(MARK));
});

test.serial('a failed build leaves no stamp, and the CLI runs the sources', async (t) => {
  t.is((await build(root)).code, 0);
  const file = path.join(root, 'agent', 'paths.ts');
  const good = await readFile(file, 'utf8');
  await writeFile(file, `${good}\nexport const = ;\n`);
  const b = await build(root);
  t.not(b.code, 0);
  t.regex(b.stdout + b.stderr, /ERROR[\s\S]*agent\/paths\.ts/);
  t.false(await exists(path.join(root, 'dist', '.build-stamp')));
  // Mended, but not rebuilt: there is still no stamp, so the sources run.
  await writeFile(file, good);
  const r = await pass(root);
  t.is(r.code, 0, r.stderr);
  t.true(r.copied);
  t.false(r.stderr.includes(MARK));
});

test.serial('with dist/ removed the CLI runs the sources', async (t) => {
  t.is((await build(root)).code, 0);
  await rm(path.join(root, 'dist'), { recursive: true });
  const r = await pass(root);
  t.is(r.code, 0, r.stderr);
  t.true(r.copied);
  t.false(r.stderr.includes(MARK));
});
