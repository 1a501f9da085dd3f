// A counting proxy in front of the bench's S3 server: every request a contender sends is tallied
// by kind (list, HEAD, PUT, copy, DELETE, DeleteObjects, …) and answer status, so a pass's
// request count can be explained, not only totalled (the server's own counters only total).

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** `kind status` → count, e.g. `HEAD 200`, `PUT 412`, `DeleteObjects 200`. */
export type KindCounts = Record<string, number>;

export interface CountingProxy {
  /** `http://127.0.0.1:<port>`: give this to the contender instead of the server's endpoint. */
  readonly endpoint: string;
  /** The counts since the last `take()`, and a fresh start. */
  take(): KindCounts;
  close(): Promise<void>;
}

/** The S3 operation a request is, from its method, query and headers. */
export function kindOf(req: http.IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  switch (req.method) {
    case 'GET':
      return q.has('list-type') || url.pathname.split('/').filter(Boolean).length <= 1 ? 'List' : 'GET';
    case 'HEAD':
      return 'HEAD';
    case 'PUT':
      if (req.headers['x-amz-copy-source'] !== undefined) return 'Copy';
      if (q.has('partNumber')) return 'UploadPart';
      return 'PUT';
    case 'POST':
      if (q.has('delete')) return 'DeleteObjects';
      if (q.has('uploads')) return 'CreateMultipart';
      if (q.has('uploadId')) return 'CompleteMultipart';
      return 'POST';
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipart' : 'DELETE';
    default:
      return req.method ?? '?';
  }
}

/** Starts a proxy on 127.0.0.1 that forwards everything to `target` unchanged (the Host header too, so SigV4 still holds). */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let counts: KindCounts = {};
  const server = http.createServer((req, res) => {
    const kind = kindOf(req);
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      const key = `${kind} ${answer.statusCode ?? 0}`;
      counts[key] = (counts[key] ?? 0) + 1;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', (err) => {
      counts[`${kind} proxy-error`] = (counts[`${kind} proxy-error`] ?? 0) + 1;
      res.destroy(err);
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    take() {
      const out = counts;
      counts = {};
      return out;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** `HEAD 200: 50, PUT 200: 100, …`, most frequent first. */
export const renderKinds = (c: KindCounts): string =>
  Object.entries(c)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
