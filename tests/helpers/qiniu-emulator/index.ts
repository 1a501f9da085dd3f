// A local Qiniu Kodo for tests: speaks the wire protocol the `qiniu` SDK uses (protocol doc §2)
// and checks its credentials (§3) on 127.0.0.1. The API port serves up/rs/rsf/api/io/uc; each
// bucket gets its own download port (a Kodo domain belongs to one bucket).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { verifyManagement, type EmulatorKeys } from './auth.js';
import { BlobDigests } from './codec.js';
import { serveDownload } from './download.js';
import { drain, fail, readBody, refuse, send, splitUrl, type Reply } from './http.js';
import { ResumableUploads } from './resumable.js';
import { runBatch, runList, runOp } from './rs.js';
import { ObjectStore } from './store.js';
import { formUpload } from './up.js';

export interface QiniuEmulatorOptions {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly buckets: readonly string[];
  /** Buckets whose downloads need a signed URL. @default [] */
  readonly privateBuckets?: readonly string[];
  /** Largest listing page, to exercise marker pagination with few objects. @default 1000 */
  readonly listPageSize?: number;
  /** How long idle keep-alive connections stay open; long values catch clients that hold sockets. @default 5000 */
  readonly keepAliveTimeoutMs?: number;
}

export const EMULATOR_OPS = [
  'list', 'stat', 'delete', 'move', 'copy', 'batch', 'form', 'v2-init', 'v2-part', 'v2-complete',
  'v2-abort', 'mkblk', 'mkfile', 'download', 'unknown',
] as const;
export type EmulatorOp = (typeof EMULATOR_OPS)[number];

export interface QiniuFaults {
  /** The next `count` requests (only those of `op`, when given) get `status` and a JSON error. */
  failNext(status: number, count?: number, op?: EmulatorOp): void;
  /** Delays every answer by `ms`; 0 turns it off. */
  slow(ms: number): void;
  /**
   * Holds the next request of `op` until `release()`: `arrived` resolves once it is waiting.
   * Lets a test change the world at an exact point of a client's sequence of calls.
   */
  hold(op: EmulatorOp): { readonly arrived: Promise<void>; release(): void };
}

export interface EmulatorStats {
  readonly total: number;
  readonly byOp: Readonly<Partial<Record<EmulatorOp, number>>>;
  readonly byStatus: Readonly<Record<number, number>>;
}

export interface QiniuEmulator {
  /** http://127.0.0.1:P, serving up, rs, rsf, api, io and uc. */
  readonly apiUrl: string;
  /** The first bucket's download domain. */
  readonly downloadUrl: string;
  /** Download domain per bucket. */
  readonly domains: Readonly<Record<string, string>>;
  /** Ready for a `qiniu` remote's `hosts`. */
  readonly hosts: { readonly up: string; readonly rs: string; readonly rsf: string; readonly api: string; readonly io: string; readonly uc: string };
  readonly faults: QiniuFaults;
  stats(): EmulatorStats;
  /** Puts an object directly (no HTTP), for fixtures and benchmarks. */
  seed(bucket: string, key: string, data: string | Buffer, meta?: Record<string, string>): Promise<void>;
  /** The stored bytes of an object, or undefined. */
  read(bucket: string, key: string): Promise<Buffer | undefined>;
  stop(): Promise<void>;
}

const FAULT_MESSAGES: Record<number, string> = {
  401: 'bad token', 403: 'forbidden', 404: 'Document not found', 503: 'service unavailable',
  573: 'too many requests', 599: 'server error', 612: 'no such file or directory', 631: 'no such bucket',
};

type Route = { op: EmulatorOp; run: () => Promise<Reply> };

export async function startQiniuEmulator(opts: QiniuEmulatorOptions): Promise<QiniuEmulator> {
  const keys: EmulatorKeys = { accessKey: opts.accessKey, secretKey: opts.secretKey };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'qiniu-emulator-'));
  const store = new ObjectStore(path.join(dir, 'blobs'), opts.buckets);
  await store.init();
  const resumable = new ResumableUploads(store, keys);
  const faults: { status: number; left: number; op?: EmulatorOp }[] = [];
  let slowMs = 0;
  const holds: { op: EmulatorOp; arrive: () => void; released: Promise<void> }[] = [];
  const counts = { total: 0, byOp: {} as Partial<Record<EmulatorOp, number>>, byStatus: {} as Record<number, number> };

  const management = (req: IncomingMessage, run: (body: Buffer) => Reply) => async (): Promise<Reply> => {
    const body = await readBody(req);
    const refusal = verifyManagement({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }, keys);
    return refusal ? refuse(refusal) : run(body);
  };

  const route = (req: IncomingMessage): Route => {
    const method = req.method ?? '';
    const { path: p, query } = splitUrl(req.url ?? '/');
    let m: RegExpExecArray | null;
    if (method === 'POST' && p === '/list') return { op: 'list', run: management(req, () => runList(store, query, { maxPageSize: opts.listPageSize })) };
    if (method === 'GET' && /^\/stat\/[^/]+$/.test(p)) return { op: 'stat', run: management(req, () => runOp(store, p)) };
    if (method === 'POST' && /^\/delete\/[^/]+$/.test(p)) return { op: 'delete', run: management(req, () => runOp(store, p)) };
    if (method === 'POST' && (m = /^\/(move|copy)\/[^/]+\/[^/]+(\/force\/(true|false))?$/.exec(p))) {
      return { op: m[1] as 'move' | 'copy', run: management(req, () => runOp(store, p)) };
    }
    if (method === 'POST' && p === '/batch') return { op: 'batch', run: management(req, (body) => runBatch(store, body)) };
    if (method === 'POST' && p === '/') return { op: 'form', run: () => formUpload(req, store, keys) };
    if (method === 'POST' && (m = /^\/mkblk\/(\d+)$/.exec(p))) return { op: 'mkblk', run: () => resumable.mkblk(req, Number(m?.[1])) };
    if (method === 'POST' && (m = /^\/mkfile\/(\d+)(\/.*)?$/.exec(p))) return { op: 'mkfile', run: () => resumable.mkfile(req, Number(m?.[1]), m?.[2] ?? '') };
    if ((m = /^\/buckets\/([^/]+)\/objects\/([^/]+)\/uploads(?:\/([^/]+)(?:\/(\d+))?)?$/.exec(p))) {
      const [, bucket = '', ek = '', id, part] = m;
      if (method === 'POST' && id === undefined) return { op: 'v2-init', run: () => resumable.init(req, bucket, ek) };
      if (method === 'PUT' && id !== undefined && part !== undefined) return { op: 'v2-part', run: () => resumable.part(req, bucket, ek, id, Number(part)) };
      if (method === 'POST' && id !== undefined && part === undefined) return { op: 'v2-complete', run: () => resumable.complete(req, bucket, ek, id) };
      if (method === 'DELETE' && id !== undefined && part === undefined) return { op: 'v2-abort', run: async () => (await drain(req), resumable.abort(bucket, ek, id)) };
    }
    return { op: 'unknown', run: async () => (await drain(req), fail(404, `no such API: ${method} ${p}`)) };
  };

  /** Counts the request, applies slowness and injected faults; true when a fault answered. */
  const intercept = async (req: IncomingMessage, res: ServerResponse, op: EmulatorOp): Promise<boolean> => {
    counts.total += 1;
    counts.byOp[op] = (counts.byOp[op] ?? 0) + 1;
    res.on('finish', () => (counts.byStatus[res.statusCode] = (counts.byStatus[res.statusCode] ?? 0) + 1));
    if (slowMs > 0) await delay(slowMs);
    const held = holds.findIndex((h) => h.op === op);
    if (held >= 0) {
      const [h] = holds.splice(held, 1);
      h?.arrive();
      await h?.released;
    }
    const fault = faults.find((f) => f.left > 0 && (f.op === undefined || f.op === op));
    if (!fault) return false;
    fault.left -= 1;
    await drain(req);
    send(res, fail(fault.status, FAULT_MESSAGES[fault.status] ?? 'injected fault'));
    return true;
  };

  const answerErrors = (res: ServerResponse) => (e: unknown) => send(res, fail(500, `emulator error: ${(e as Error).message}`));

  const api = createServer((req, res) => {
    const r = route(req);
    void intercept(req, res, r.op)
      .then(async (faulted) => (faulted ? undefined : send(res, await r.run())))
      .catch(answerErrors(res));
  });
  const privateSet = new Set(opts.privateBuckets ?? []);
  const downloads = opts.buckets.map((bucket) =>
    createServer((req, res) => {
      void intercept(req, res, 'download')
        .then((faulted) => (faulted ? undefined : serveDownload(req, res, store, keys, { bucket, private: privateSet.has(bucket) })))
        .catch(answerErrors(res));
    }),
  );
  const servers = [api, ...downloads];
  for (const s of servers) s.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5000;
  const urls = await Promise.all(servers.map(listen));
  const apiUrl = urls[0] as string;
  const domains = Object.fromEntries(opts.buckets.map((b, i) => [b, urls[i + 1] as string]));

  return {
    apiUrl,
    downloadUrl: urls[1] ?? '',
    domains,
    hosts: { up: apiUrl, rs: apiUrl, rsf: apiUrl, api: apiUrl, io: apiUrl, uc: apiUrl },
    faults: {
      failNext: (status, count = 1, op) => void faults.push({ status, left: count, ...(op ? { op } : {}) }),
      slow: (ms) => void (slowMs = ms),
      hold(op) {
        let arrive = (): void => undefined;
        let release = (): void => undefined;
        const arrived = new Promise<void>((resolve) => (arrive = resolve));
        const released = new Promise<void>((resolve) => (release = resolve));
        holds.push({ op, arrive, released });
        return { arrived, release };
      },
    },
    stats: () => ({ total: counts.total, byOp: { ...counts.byOp }, byStatus: { ...counts.byStatus } }),
    async seed(bucket, key, data, meta = {}) {
      const bytes = Buffer.from(data);
      const file = store.newFile();
      await writeFile(file, bytes);
      const digests = new BlobDigests();
      digests.update(bytes);
      const d = digests.digest();
      store.put(bucket, { key, fsize: d.size, hash: d.qetag, md5: d.md5, mimeType: 'application/octet-stream', putTime: Date.now() * 1e4, meta, file });
    },
    async read(bucket, key) {
      const o = store.get(bucket, key);
      return o ? readFile(o.file) : undefined;
    },
    async stop() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
