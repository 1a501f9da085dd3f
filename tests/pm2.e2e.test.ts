// The daemon under pm2, the way users run it: `pm2 start ecosystem.config.cjs` reaches online once
// the first pass is done (wait_ready), syncs, and `pm2 stop` stops it gracefully (exit code 0).
// pm2 runs with a private PM2_HOME in a temp folder and is killed at the end.

import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { testEnv, waitFor } from './helpers/cli.js';
import { daemonWorld } from './helpers/daemon.js';
import { tmpDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PM2 = path.join(ROOT, 'node_modules', '.bin', 'pm2');

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

interface Run {
  readonly code: number | null;
  readonly out: string;
}

function pm2(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(PM2, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

interface Pm2App {
  readonly name: string;
  readonly pid: number;
  readonly pm2_env: { readonly status: string; readonly restart_time: number };
}

async function apps(env: NodeJS.ProcessEnv): Promise<Pm2App[]> {
  const { out } = await pm2(['jlist'], env);
  const json = out.split('\n').find((l) => l.startsWith('['));
  return json ? (JSON.parse(json) as Pm2App[]) : [];
}

const statusOf = async (env: NodeJS.ProcessEnv): Promise<string | undefined> => (await apps(env)).find((a) => a.name === 'sync-agent')?.pm2_env.status;

test.serial('pm2 start reaches online after the first pass; pm2 stop stops it gracefully', async (t) => {
  const w = await daemonWorld(server);
  const home = await tmpDir('pm2-');
  const logDir = path.join(home.path, 'app-logs');
  const env = testEnv({
    ...server.env,
    PM2_HOME: path.join(home.path, '.pm2'),
    SYNC_AGENT_CONFIG: path.join(w.dir, 'agent.config.json'),
    SYNC_AGENT_LOG_DIR: logDir,
  });
  t.teardown(async () => {
    await pm2(['kill'], env);
    await w.cleanup();
    await home.cleanup();
  });
  await writeFile(path.join(w.local, 'before.txt'), 'there before the start');

  const started = await pm2(['start', 'ecosystem.config.cjs'], env);
  t.is(started.code, 0, started.out);
  await waitFor('pm2 to report online', async () => (await statusOf(env)) === 'online', 60_000, 250);
  const outLog = () => readFile(path.join(logDir, 'sync-agent.out.log'), 'utf8').catch(() => '');
  t.regex(await outLog(), /"event":"ready"/, 'online only after the daemon said ready');
  t.deepEqual(await w.keys(), ['before.txt'], 'the first pass ran before ready');

  await writeFile(path.join(w.local, 'live.txt'), 'written while pm2 runs it');
  await waitFor('the live change in the bucket', async () => (await w.keys()).includes('live.txt'), 60_000);

  const stopped = await pm2(['stop', 'sync-agent'], env);
  t.is(stopped.code, 0, stopped.out);
  t.is(await statusOf(env), 'stopped');
  t.regex(await outLog(), /"event":"stopped"/, 'the daemon stopped itself: manifest saved, locks released');
  const pm2Log = await readFile(path.join(home.path, '.pm2', 'pm2.log'), 'utf8');
  t.regex(pm2Log, /App \[sync-agent:\d+\] exited with code \[0\]/, 'exit code 0');
  t.false(await readFile(path.join(w.dir, '.state', 'main.lock')).then(() => true, () => false), 'lock released');
});
