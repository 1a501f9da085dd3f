// One agent per pair: `<stateDir>/<pair>.lock` holds `{ pid, hostname, startedAt }`. A lock whose
// process is dead is taken over; a live one stops the start (the CLI exits 4). Nothing global is
// registered here: the daemon releases the lock on its way out.

import { link, mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface LockInfo {
  readonly pid: number;
  readonly hostname: string;
  /** ISO time the holder started. */
  readonly startedAt: string;
}

export interface Lock {
  readonly file: string;
  readonly info: LockInfo;
  /** Set when a stale lock was taken over: whose it was and why it counted as stale, for the log. */
  readonly tookOver?: string;
  /** Removes the lock file if it is still ours (idempotent). */
  release(): Promise<void>;
}

/** Another live agent holds the pair. */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
  constructor(
    readonly file: string,
    readonly holder: LockInfo,
  ) {
    const where = holder.hostname === os.hostname() ? '' : ` on host ${holder.hostname} (cannot be checked from here)`;
    super(
      `another agent (pid ${holder.pid}${where}, started ${holder.startedAt}) holds the lock ${file}; ` +
        `stop it first, or delete ${file} if that process is not a sync-agent`,
    );
  }
}

/** Files locked by this process: our own pid in a lock file is stale unless we hold it now. */
const heldHere = new Set<string>();

function errCode(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errCode(err) === 'EPERM';
  }
}

type Holder = { kind: 'missing' } | { kind: 'unparsable'; raw: string } | { kind: 'ok'; info: LockInfo; raw: string };

async function readHolder(file: string): Promise<Holder> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    const doc = JSON.parse(raw) as Partial<LockInfo> | null;
    if (typeof doc?.pid === 'number' && typeof doc.hostname === 'string' && typeof doc.startedAt === 'string') {
      return { kind: 'ok', info: { pid: doc.pid, hostname: doc.hostname, startedAt: doc.startedAt }, raw };
    }
  } catch {
    // falls through: unparsable
  }
  return { kind: 'unparsable', raw };
}

/** Why the holder is stale, or null when it is (or may be) alive. */
function staleReason(file: string, h: Holder): string | null {
  if (h.kind === 'missing') return null;
  if (h.kind === 'unparsable') return 'the lock file was unreadable';
  const { pid, hostname, startedAt } = h.info;
  if (hostname !== os.hostname()) return null; // another machine's pid means nothing here
  // After a reboot pids are reused: a lock older than the boot is stale whatever its pid says.
  const bootMs = Date.now() - os.uptime() * 1000 - 60_000;
  if (Date.parse(startedAt) < bootMs) return `pid ${pid} started before this machine booted`;
  if (pid === process.pid) return heldHere.has(file) ? null : `pid ${pid} is this process, from an earlier run`;
  return isAlive(pid) ? null : `pid ${pid} is no longer running`;
}

/**
 * Creates `file` with `content` only if it does not exist. Linking a complete temp file makes the
 * content appear at once, so a racing reader never sees an empty lock and calls it stale.
 */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { flag: 'wx' });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    // Filesystems without hard links: plain exclusive create.
    const fh = await open(file, 'wx').catch((e: unknown) => {
      if (errCode(e) === 'EEXIST') return null;
      throw e;
    });
    if (fh === null) return false;
    await fh.writeFile(content);
    await fh.close();
    return true;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Removes a stale lock. Only the holder of `<file>.takeover` may remove a lock it did not create,
 * and it re-reads the lock under that guard: of two takers, the second finds the first's live lock.
 */
async function takeOver(file: string, seen: Holder): Promise<void> {
  const guard = `${file}.takeover`;
  const me = JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() });
  if (!(await createExclusive(guard, me))) {
    const g = await readHolder(guard);
    // A guard left by a crashed taker would block every start; a live one finishes in moments.
    if (staleReason(guard, g) !== null) await unlink(guard).catch(() => undefined);
    return;
  }
  heldHere.add(guard);
  try {
    const now = await readHolder(file);
    if (now.kind !== 'missing' && seen.kind !== 'missing' && now.raw === seen.raw && staleReason(file, now) !== null) {
      await unlink(file).catch((err: unknown) => {
        if (errCode(err) !== 'ENOENT') throw err;
      });
    }
  } finally {
    heldHere.delete(guard);
    const g = await readHolder(guard);
    if (g.kind !== 'missing' && g.raw === me) await unlink(guard).catch(() => undefined);
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Takes the pair's lock or throws `LockHeldError` naming the live holder.
 * @param info.pid the pid written to the lock. @default process.pid
 */
export async function acquireLock(file: string, info?: { pid?: number }): Promise<Lock> {
  await mkdir(path.dirname(file), { recursive: true });
  const mine: LockInfo = { pid: info?.pid ?? process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  const content = `${JSON.stringify(mine)}\n`;
  let tookOver: string | undefined;
  // Each round either creates the lock, finds a live holder, or removes a stale one; a racing
  // taker can make a round end empty-handed, so allow several before giving up.
  for (let round = 0; round < 50; round++) {
    if (await createExclusive(file, content)) {
      heldHere.add(file);
      return makeLock(file, mine, content, tookOver);
    }
    const holder = await readHolder(file);
    if (holder.kind === 'missing') continue;
    const reason = staleReason(file, holder);
    if (reason === null && holder.kind === 'ok') throw new LockHeldError(file, holder.info);
    tookOver = reason ?? undefined;
    await takeOver(file, holder);
    if (round > 3) await pause(10 * round); // someone else is mid-takeover: let them finish
  }
  throw new Error(
    `could not take over the stale lock ${file}: another start keeps holding ${file}.takeover; ` +
      'if no sync-agent is running for this pair, delete both files',
  );
}

function makeLock(file: string, info: LockInfo, content: string, tookOver: string | undefined): Lock {
  let released = false;
  return {
    file,
    info,
    ...(tookOver === undefined ? {} : { tookOver }),
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(file);
      // Only our own lock: if it was taken over meanwhile, the file is someone else's now.
      const h = await readHolder(file);
      if (h.kind === 'ok' && h.raw === content) await unlink(file).catch(() => undefined);
    },
  };
}
