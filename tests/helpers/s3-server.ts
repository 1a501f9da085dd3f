// A real S3 server for tests: s3rver (with S3-faithful fixes, see s3-server-main.ts) in a child
// process on 127.0.0.1, a fresh data folder per server, and server-side request counters.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Stats } from './s3-server-main.js';
import { tmpDir } from './tmp.js';

export type S3ServerStats = Stats;

export interface S3Server {
  /** `http://127.0.0.1:<port>`, for the `endpoint` of an s3 remote. */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: 'S3RVER';
  readonly secretAccessKey: 'S3RVER';
  readonly region: 'us-east-1';
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION…: merge into the env of a spawned CLI. */
  readonly env: Readonly<Record<string, string>>;
  createBucket(name: string): Promise<void>;
  /**
   * Counted on the server since start or the last reset: `puts` = object PUTs and multipart part
   * uploads (copies not included), `copies` = server-side copies, `bytesIn` = request-body bytes,
   * `requests` = every request.
   */
  stats(): Promise<S3ServerStats>;
  resetStats(): Promise<void>;
  /** A raw SDK client (checksums only when required) for test setup and inspection. */
  client(): S3Client;
  /** Kills the server and removes its data; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartS3ServerOptions {
  /** Buckets created before the server answers (names of 3+ characters). @default ['test-bucket'] */
  readonly buckets?: readonly string[];
  /**
   * Enforce If-None-Match/If-Match on writes as S3 does (see s3-server-main.ts). false serves
   * them as s3rver does (ignored: the write overwrites), like many S3-compatible stores.
   * @default true
   */
  readonly conditionalWrites?: boolean;
  /**
   * Serve this data folder and keep it after `stop()` (benchmarks reuse a filled bucket across
   * runs). @default a fresh temp folder, removed on stop
   */
  readonly dataDir?: string;
}

const quiet = (): void => undefined;
const MAIN = fileURLToPath(new URL('./s3-server-main.ts', import.meta.url));
const PROJECT_ROOT = path.resolve(path.dirname(MAIN), '..', '..');

/** Starts a server; call `stop()` in an `after.always` hook. */
export async function startS3Server(opts: StartS3ServerOptions = {}): Promise<S3Server> {
  const buckets = opts.buckets ?? ['test-bucket'];
  const data = opts.dataDir === undefined ? await tmpDir('sync-agent-s3rver-') : { path: opts.dataDir, cleanup: async () => undefined };
  if (opts.dataDir !== undefined) await mkdir(opts.dataDir, { recursive: true });
  // s3rver's continuation tokens use DES, which OpenSSL 3 only offers in its legacy provider.
  const flags = opts.conditionalWrites === false ? ['--no-conditional-writes'] : [];
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', MAIN, data.path, buckets.join(','), ...flags], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { type?: string; port?: number }) => (m.type === 'ready' && m.port ? resolve(m.port) : reject(new Error('bad ready message'))));
      child.once('exit', (code) => reject(new Error(`s3 server exited (${code}) before it was ready:\n${stderr}`)));
      child.once('error', reject);
    });
  } catch (err) {
    child.kill();
    await data.cleanup();
    throw err;
  }

  const endpoint = `http://127.0.0.1:${port}`;
  let client: S3Client | undefined;
  let stopped = false;
  const ask = ipc(child);
  const server: S3Server = {
    endpoint,
    port,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      // Keeps the credential chain from probing instance metadata on a machine with no network.
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    async createBucket(name) {
      await server.client().send(new CreateBucketCommand({ Bucket: name }));
    },
    stats: () => ask('stats') as Promise<S3ServerStats>,
    resetStats: async () => void (await ask('reset')),
    client() {
      client ??= new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // Tests provoke failures on purpose; the SDK's console warnings about them are noise.
        logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
      });
      return client;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client?.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send({ id: 0, op: 'stop' });
        else child.kill();
      }
      await exited;
      await data.cleanup();
    },
  };
  return server;
}

/** Request/response over the child's IPC channel, matched by id. */
function ipc(child: ChildProcess): (op: 'stats' | 'reset') => Promise<unknown> {
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: { id?: number; result?: unknown }) => {
    if (m.id === undefined) return;
    waiting.get(m.id)?.resolve(m.result);
    waiting.delete(m.id);
  });
  child.once('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('s3 server exited'));
    waiting.clear();
  });
  return (op) =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error('s3 server is stopped'));
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.send({ id, op });
    });
}
