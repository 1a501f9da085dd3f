import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { acquireLock, LockHeldError, type LockInfo } from '../agent/lock.js';

async function tmpDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lock-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const readLock = async (file: string): Promise<LockInfo> => JSON.parse(await readFile(file, 'utf8')) as LockInfo;

const writeLock = (file: string, info: Partial<LockInfo>): Promise<void> =>
  writeFile(file, JSON.stringify({ hostname: os.hostname(), startedAt: new Date().toISOString(), ...info }));

/** A process that stays alive until the test ends. */
function sleeper(t: ExecutionContext): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill();
  });
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child as ChildProcess & { pid: number };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid ?? -1;
  await once(child, 'exit');
  return pid;
}

test('acquire writes pid, hostname and start time; release removes the file', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'state', 'docs.lock');
  const lock = await acquireLock(file);
  const info = await readLock(file);
  t.is(info.pid, process.pid);
  t.is(info.hostname, os.hostname());
  t.false(Number.isNaN(Date.parse(info.startedAt)));
  t.is(lock.tookOver, undefined);
  await lock.release();
  await lock.release(); // idempotent
  t.deepEqual(await readdir(path.dirname(file)), []);
  const again = await acquireLock(file);
  await again.release();
});

test('a lock held by a live process is refused, naming the pid and the file', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  const child = sleeper(t);
  await writeLock(file, { pid: child.pid });
  const err = await t.throwsAsync(acquireLock(file), { instanceOf: LockHeldError });
  t.true(err.message.includes(`pid ${child.pid}`));
  t.true(err.message.includes(file));
  t.is((await readLock(file)).pid, child.pid);
});

test('a lock whose process exited is taken over', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  const dead = await deadPid();
  await writeLock(file, { pid: dead });
  const lock = await acquireLock(file);
  t.is((await readLock(file)).pid, process.pid);
  t.regex(lock.tookOver ?? '', new RegExp(`pid ${dead} is no longer running`));
  await lock.release();
});

test('an unreadable lock file is taken over', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  await writeFile(file, '{"pid": 12');
  const lock = await acquireLock(file);
  t.is((await readLock(file)).pid, process.pid);
  t.regex(lock.tookOver ?? '', /unreadable/);
  await lock.release();
});

test('a lock from before the last boot is stale even if its pid is in use now', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  const child = sleeper(t);
  await writeLock(file, { pid: child.pid, startedAt: '2001-01-01T00:00:00.000Z' });
  const lock = await acquireLock(file);
  t.regex(lock.tookOver ?? '', /before this machine booted/);
  await lock.release();
});

test('our own pid left by an earlier run is stale; held by us now it is not', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  await writeLock(file, { pid: process.pid });
  const lock = await acquireLock(file);
  t.regex(lock.tookOver ?? '', /this process, from an earlier run/);
  await t.throwsAsync(acquireLock(file), { instanceOf: LockHeldError });
  await lock.release();
});

test('a lock on another host is never taken over', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  await writeLock(file, { pid: await deadPid(), hostname: 'some-other-host' });
  const err = await t.throwsAsync(acquireLock(file), { instanceOf: LockHeldError });
  t.regex(err.message, /on host some-other-host/);
});

test('release leaves a lock that is no longer ours', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  const lock = await acquireLock(file);
  const child = sleeper(t);
  await writeLock(file, { pid: child.pid });
  await lock.release();
  t.is((await readLock(file)).pid, child.pid);
});

test('concurrent acquirers in one process: exactly one wins a stale lock', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  await writeLock(file, { pid: await deadPid() });
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(file)));
  const won = results.filter((r) => r.status === 'fulfilled');
  t.is(won.length, 1);
  for (const r of results) if (r.status === 'rejected') t.true(r.reason instanceof LockHeldError);
  if (won[0]?.status === 'fulfilled') await won[0].value.release();
  t.deepEqual(await readdir(dir), []); // no guard or temp files left
});

const CHILD = `
const { acquireLock } = await import(${JSON.stringify(pathToFileURL(path.resolve('agent/lock.ts')).href)});
try {
  await acquireLock(process.argv[1]);
  console.log('won ' + process.pid);
} catch (e) {
  console.log((e.name === 'LockHeldError' ? 'held ' : 'error ') + e.message);
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

test('concurrent agents in separate processes: exactly one takes over a stale lock', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'docs.lock');
  await writeLock(file, { pid: await deadPid() });
  const children = Array.from({ length: 4 }, () =>
    spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  t.teardown(() => {
    for (const c of children) c.kill();
  });
  // Every child reports before any exits, so the winner still holds the lock when the others try.
  const lines = await Promise.all(
    children.map(
      (c) =>
        new Promise<string>((resolve) => {
          let out = '';
          c.stdout?.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
          c.on('exit', () => resolve(out.trim()));
        }),
    ),
  );
  const winners = lines.filter((l) => l.startsWith('won '));
  t.is(winners.length, 1);
  t.is(lines.filter((l) => l.startsWith('held ')).length, 3);
  t.is(winners[0], `won ${(await readLock(file)).pid}`);
  for (const c of children) c.stdin?.end();
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
});
