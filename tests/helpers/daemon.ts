// A daemon under test: a temp folder, a fresh bucket on the shared S3 server, the real CLI started
// in the background, and helpers that wait on what a user would see (objects, files, status).

import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Server } from './s3-server.js';
import { tmpDir, waitFor as waitUntil } from './tmp.js';
import { parseLogs, startCli, testEnv, waitFor, writeConfig } from './cli.js';
import type { PairStatus } from '../../agent/status.js';
import type { ManifestDocument } from '../../state/manifest.js';

export interface Daemon {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code once it has exited. */
  readonly exited: Promise<number | null>;
}

export interface DaemonWorld {
  readonly dir: string;
  readonly local: string;
  readonly bucket: string;
  /** Starts the daemon and waits for its `ready` line (first pass done). */
  start(extraEnv?: Record<string, string>): Promise<Daemon>;
  /** Sends `signal` and waits for the exit code. */
  stop(d: Daemon, signal?: NodeJS.Signals): Promise<number | null>;
  put(key: string, body: string | Buffer): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  del(key: string): Promise<void>;
  /** Every key under the pair's prefix, sorted (all pages). */
  keys(): Promise<string[]>;
  status(): Promise<PairStatus | undefined>;
  /** The pair's manifest; undefined when none was written yet (nothing was ever synced). */
  manifest(): Promise<ManifestDocument | undefined>;
  cleanup(): Promise<void>;
}

const PREFIX = 'data/';
let seq = 0;

/** `pair` and `remote` override the pair's defaults (debounceMs 300, reconcileEverySec 300, s3 at `server`). */
export async function daemonWorld(server: S3Server, pair: Record<string, unknown> = {}, remote: Record<string, unknown> = {}): Promise<DaemonWorld> {
  const tmp = await tmpDir('daemon-');
  const bucket = `daemon-${process.pid}-${++seq}`;
  await server.createBucket(bucket);
  const local = path.join(tmp.path, 'local');
  await mkdir(local, { recursive: true });
  await writeConfig(tmp.path, {
    stateDir: '.state',
    concurrency: 8,
    pairs: [
      {
        name: 'main',
        local: './local',
        remote: { provider: 's3', bucket, prefix: 'data', endpoint: server.endpoint, region: 'us-east-1', ...remote },
        direction: 'both',
        deletes: 'propagate',
        debounceMs: 300,
        reconcileEverySec: 300,
        ...pair,
      },
    ],
  });
  const client = server.client();
  const running = new Set<Daemon>();
  const w: DaemonWorld = {
    dir: tmp.path,
    local,
    bucket,
    async start(extraEnv = {}) {
      const { child, output } = startCli([], { cwd: tmp.path, env: testEnv({ ...server.env, ...extraEnv }) });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const d: Daemon = { child, output, logs: () => parseLogs(output()), exited };
      running.add(d);
      void exited.then(() => running.delete(d));
      await waitFor('the daemon to be ready', async () => {
        if (child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}):\n${output()}`);
        return d.logs().some((l) => l.event === 'ready');
      }, 60_000);
      return d;
    },
    async stop(d, signal = 'SIGTERM') {
      if (d.child.exitCode === null) d.child.kill(signal);
      return d.exited;
    },
    put: async (key, body) => void (await client.send(new PutObjectCommand({ Bucket: bucket, Key: PREFIX + key, Body: body }))),
    async get(key) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: PREFIX + key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch {
        return undefined;
      }
    },
    del: async (key) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: PREFIX + key }))),
    async keys() {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: PREFIX, ContinuationToken: token }));
        for (const o of r.Contents ?? []) out.push(o.Key!.slice(PREFIX.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token !== undefined);
      return out.sort();
    },
    async status() {
      try {
        return JSON.parse(await readFile(path.join(tmp.path, '.state', 'main.status.json'), 'utf8')) as PairStatus;
      } catch {
        return undefined;
      }
    },
    async manifest() {
      const text = await readFile(path.join(tmp.path, '.state', 'main.manifest.json'), 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as ManifestDocument);
    },
    async cleanup() {
      for (const d of running) {
        d.child.kill('SIGKILL');
        await d.exited;
      }
      await tmp.cleanup();
    },
  };
  return w;
}

/** The daemon's log lines of one event (`upload`, `deleteRemote`, `moveRemote`, …), as paths. */
export const logged = (d: Daemon, event: string): string[] =>
  d
    .logs()
    .filter((l) => l.event === event)
    .map((l) => String(l.path));

/**
 * Waits until the daemon has nothing left: no pending path, nothing in flight, and a status
 * written after `after` (so it is not an old snapshot from before the change being waited on).
 */
export async function settled(w: DaemonWorld, after: number, timeoutMs = 60_000): Promise<PairStatus> {
  return waitUntil(
    async () => {
      const s = await w.status();
      return s !== undefined && Date.parse(s.updatedAt) >= after && s.pendingPaths === 0 && s.inFlight === 0 && s.oldestUnsyncedMs === undefined ? s : undefined;
    },
    { timeoutMs, what: 'the daemon to settle' },
  );
}
