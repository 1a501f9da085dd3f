// A "world" for end-to-end tests: a temp folder with agent.config.json, a local folder, a remote
// (a fresh bucket on the real S3 server, or a plain folder), the CLI runner, and raw accessors
// that touch the remote behind the agent's back. Fingerprints tell whether anything changed.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Server } from './s3-server.js';
import { tmpDir } from './tmp.js';
import { UNPRIVILEGED } from './unprivileged.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { BIN, parseLogs, runCli, testEnv, writeConfig, type CliResult } from './cli.js';
import type { PairStatus } from '../../agent/status.js';


export interface WorldOptions {
  /** Merged into the pair (direction, deletes, maxDeletePercent…). @default {} */
  readonly pair?: Readonly<Record<string, unknown>>;
  /** Merged into the s3 remote (endpoint, region…); ignored for an fs remote. @default {} */
  readonly remote?: Readonly<Record<string, unknown>>;
  /** Merged into the top of the config (stateDir, concurrency). @default {} */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Use this bucket instead of a fresh one (two machines on one bucket). @default a fresh bucket */
  readonly bucket?: string;
  /** Folder in the bucket. @default 'data' */
  readonly prefix?: string;
  /** A plain folder (`<dir>/remote`) as the remote instead of the S3 server. @default false */
  readonly fsRemote?: boolean;
}

/** Raw access to the remote, bypassing the agent. Keys are relative to the prefix. */
export interface RawRemote {
  put(key: string, body: string | Buffer): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  del(key: string): Promise<void>;
  /** Every key under the prefix (trash included), sorted. */
  keys(): Promise<string[]>;
  /** key -> a digest of bytes and version: changes when an object is rewritten, even identically. */
  fingerprint(): Promise<Record<string, string>>;
}

export interface World extends RawRemote {
  /** The temp folder holding the config, `local/`, the stateDir (and `remote/` for fs). */
  readonly dir: string;
  readonly local: string;
  readonly stateDir: string;
  /** The bucket ('' for an fs remote). */
  readonly bucket: string;
  /** `<stateDir>/main.manifest.json`. */
  readonly manifest: string;
  /** Runs the CLI in `dir` (default `--reconcile`). */
  run(...args: string[]): Promise<CliResult>;
  /** Runs the CLI with extra environment variables (a wrong secret, a short timeout). */
  runWith(extraEnv: Readonly<Record<string, string>>, ...args: string[]): Promise<CliResult>;
  /** Runs the CLI as an unprivileged user (the caller chowns what it must read). */
  /** The CLI bound by file permissions (tests of unreadable files; the tests run as root). */
  runUnprivileged(...args: string[]): Promise<CliResult>;
  /** `sync-agent status --json`, parsed. */
  status(): Promise<PairStatus[]>;
  /** Rewrites agent.config.json with new pair/remote overrides (same bucket and folders). */
  reconfigure(opts: Pick<WorldOptions, 'pair' | 'remote' | 'config'>): Promise<void>;
  cleanup(): Promise<void>;
}

let bucketSeq = 0;

/** A fresh world; `server` is needed for S3 worlds (it may be undefined with `fsRemote`). */
export async function createWorld(server: S3Server | undefined, opts: WorldOptions = {}): Promise<World> {
  const tmp = await tmpDir('sync-agent-world-');
  const local = path.join(tmp.path, 'local');
  await mkdir(local, { recursive: true });
  const prefix = opts.prefix ?? 'data';
  let bucket = '';
  let raw: RawRemote;
  if (opts.fsRemote) {
    const remoteDir = path.join(tmp.path, 'remote');
    await mkdir(remoteDir, { recursive: true });
    raw = fsRemote(remoteDir);
  } else {
    if (!server) throw new Error('createWorld: an S3 world needs the server');
    bucket = opts.bucket ?? `w-${process.pid}-${++bucketSeq}`;
    if (opts.bucket === undefined) await server.createBucket(bucket);
    raw = s3Remote(server, bucket, prefix);
  }
  const env = testEnv(server?.env ?? {});

  let current: Pick<WorldOptions, 'pair' | 'remote' | 'config'> = opts;
  const write = async (): Promise<void> => {
    const remote = opts.fsRemote
      ? { provider: 'fs', path: './remote' }
      : { provider: 's3', bucket, prefix, endpoint: server?.endpoint, region: 'us-east-1', ...current.remote };
    await writeConfig(tmp.path, {
      stateDir: '.state',
      concurrency: 4,
      ...current.config,
      pairs: [{ name: 'main', local: './local', remote, direction: 'both', deletes: 'propagate', ...current.pair }],
    });
  };
  await write();
  const stateDir = path.resolve(tmp.path, String(opts.config?.stateDir ?? '.state'));

  const run = (...args: string[]): Promise<CliResult> => runCli(args.length ? args : ['--reconcile'], { cwd: tmp.path, env });
  return {
    ...raw,
    dir: tmp.path,
    local,
    stateDir,
    bucket,
    manifest: path.join(stateDir, 'main.manifest.json'),
    run,
    runWith: (extra, ...args) => runCli(args.length ? args : ['--reconcile'], { cwd: tmp.path, env: { ...env, ...extra } }),
    runUnprivileged: (...args) => runUnprivileged(args.length ? args : ['--reconcile'], tmp.path, env),
    async status() {
      const r = await run('status', '--json');
      if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as PairStatus[];
    },
    async reconfigure(next) {
      current = { ...current, ...next };
      await write();
    },
    cleanup: tmp.cleanup,
  };
}

function s3Remote(server: S3Server, bucket: string, prefix: string): RawRemote {
  const client = server.client();
  const full = (key: string): string => `${prefix}/${key}`;
  const list = async (): Promise<{ key: string; tag: string }[]> => {
    const out: { key: string; tag: string }[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push({ key: (o.Key ?? '').slice(prefix.length + 1), tag: `${o.ETag ?? ''}@${o.LastModified?.getTime() ?? 0}` });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  };
  return {
    put: async (key, body) => void (await client.send(new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: body }))),
    async get(key) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key) }));
        return Buffer.from((await r.Body?.transformToByteArray()) ?? []);
      } catch {
        return undefined;
      }
    },
    del: async (key) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(key) }))),
    keys: async () => (await list()).map((o) => o.key).sort(),
    fingerprint: async () => Object.fromEntries((await list()).map((o) => [o.key, o.tag])),
  };
}

function fsRemote(root: string): RawRemote {
  const file = (key: string): string => path.join(root, ...key.split('/'));
  return {
    async put(key, body) {
      await mkdir(path.dirname(file(key)), { recursive: true });
      await writeFile(file(key), body);
    },
    get: (key) => readFile(file(key)).catch(() => undefined),
    del: (key) => rm(file(key), { force: true }),
    keys: async () => Object.keys(await localFingerprint(root)).filter((k) => !k.endsWith('/')).sort(),
    fingerprint: () => localFingerprint(root),
  };
}

/**
 * Every file under `root` as `path -> md5:size:mtimeMs:ino`, folders as `path/ -> dir`: any
 * write, touch, replace or delete shows. A missing root gives `{}`.
 */
export async function localFingerprint(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names) {
      const p = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, name);
      const st = await lstat(full);
      if (st.isDirectory()) {
        out[`${p}/`] = 'dir';
        await walk(full, p);
      } else {
        const md5 = st.isFile() ? createHash('md5').update(await readFile(full)).digest('hex') : 'special';
        out[p] = `${md5}:${st.size}:${st.mtimeMs}:${st.ino}`;
      }
    }
  };
  await walk(root, '');
  return out;
}

/**
 * Local tree, remote objects and the manifest's bytes: equal fingerprints = nothing changed.
 * @param opts.remote include the remote (false when it cannot be reached). @default true
 */
export async function worldFingerprint(
  w: World,
  opts: { remote?: boolean } = {},
): Promise<{ local: Record<string, string>; remote: Record<string, string>; manifest: string }> {
  const manifest = await readFile(w.manifest).then(
    (b) => b.toString('base64'),
    () => '(none)',
  );
  return { local: await localFingerprint(w.local), remote: opts.remote === false ? {} : await w.fingerprint(), manifest };
}

/** The CLI bound by file permissions like any user (see helpers/unprivileged.ts); HOME points into the world. */
function runUnprivileged(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    if (!UNPRIVILEGED) return reject(new Error('running as root without setpriv: cannot drop the permission-bypassing capabilities'));
    const [cmd, ...pre] = [...UNPRIVILEGED, process.execPath];
    const child = spawn(cmd!, [...pre, BIN, ...args], { cwd, env: { ...env, HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, logs: parseLogs(stdout) });
    });
  });
}

/** The summary log line's `skipped` list (`pair: path: reason`). */
export const skippedOf = (r: CliResult): string[] => (r.logs.find((l) => l.event === 'summary')?.skipped as string[] | undefined) ?? [];

/** Paths of the log events of one kind (`upload`, `download`, `deleteLocal`…), sorted. */
export const eventPaths = (r: CliResult, kind: string): string[] =>
  r.logs
    .filter((l) => l.event === kind)
    .map((l) => String(l.path))
    .sort();

/** Runs `fn` over `items`, `width` at a time (test setup of many objects without a flood). */
export async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** A world whose agent reaches the bucket only through a fresh fault proxy; both go at teardown. */
export async function createProxiedWorld(server: S3Server, t: { teardown(fn: () => Promise<void>): void }): Promise<{ w: World; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(server.port);
  const w = await createWorld(server, { remote: { endpoint: proxy.endpoint } });
  t.teardown(async () => {
    await proxy.close();
    await w.cleanup();
  });
  return { w, proxy };
}
