// A faulty network for tests: a TCP proxy on 127.0.0.1 between the agent and the S3 server
// (point the remote's `endpoint` at it). It reads HTTP/1.1 request heads, so a fault can hit
// chosen requests (a listing page, the PUT of one key) on kept-alive connections; everything
// else passes byte for byte. Faults are switched at run time, while the agent is running.

import net from 'node:net';

/** One HTTP request as the proxy saw its head. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query as sent, e.g. `/bucket/data/a.txt?x-id=PutObject`. */
  readonly url: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
}

export type Fault =
  /** Relays the request, then resets both connections (TCP RST) once `afterBytes` bytes of request and response went through. */
  | { readonly kind: 'reset'; readonly afterBytes?: number }
  /**
   * Stops relaying once `afterBytes` bytes of request and response went through (0: at once, the
   * request unanswered) and stops reading, as a dead link would; the client's timeout decides.
   */
  | { readonly kind: 'stall'; readonly afterBytes?: number }
  /**
   * Holds the request (nothing relayed either way; the client's writes back up) until `release`
   * settles, then relays it as usual: a test changes the world inside a chosen window.
   */
  | { readonly kind: 'hold'; readonly release: Promise<unknown> }
  /** Answers itself with this HTTP status and an S3 error body, then closes the connection. */
  | { readonly kind: 'status'; readonly status: number };

export interface FaultRule {
  readonly fault: Fault;
  /** Which requests it hits. @default every request */
  readonly match?: (req: ProxiedRequest) => boolean;
  /** Requests it hits before it wears off ("503 for a while"). @default Infinity */
  readonly times?: number;
}

/** A rule in force; `hits` counts the requests it hit so far. */
export interface ActiveFault {
  readonly hits: number;
  /** Takes this rule out (other rules stay). */
  remove(): void;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the `endpoint` of the agent's s3 remote. */
  readonly endpoint: string;
  /** Adds a rule; the first rule (in insertion order) that matches a new request and is not worn off applies. */
  inject(rule: FaultRule): ActiveFault;
  /** Back to pass-through: removes every rule and resets stalled connections. */
  heal(): void;
  /** Every request head seen since start, with the fault that hit it (if any). */
  readonly seen: readonly (ProxiedRequest & { readonly fault?: Fault['kind'] })[];
  /** Calls `listener` with each new request head (after its fault is chosen); returns an unsubscribe. */
  onRequest(listener: (req: ProxiedRequest) => void): () => void;
  /** Resets every connection and stops listening. */
  close(): Promise<void>;
}

/** What an S3 request does, by method, query and headers (path-style URLs, as the agent sends them to an endpoint). */
export type S3Op =
  | 'list'
  | 'list-uploads'
  | 'head'
  | 'get'
  | 'put'
  | 'copy'
  | 'initiate-multipart'
  | 'put-part'
  | 'complete-multipart'
  | 'abort-multipart'
  | 'delete'
  | 'delete-many'
  | 'other';

/** The operation and the object key (decoded, prefix included; undefined for bucket requests). */
export function s3Request(req: ProxiedRequest): { readonly op: S3Op; readonly key?: string } {
  const url = new URL(req.url, 'http://proxy');
  const q = url.searchParams;
  const slash = url.pathname.indexOf('/', 1);
  const key = slash === -1 || slash === url.pathname.length - 1 ? undefined : decodeURIComponent(url.pathname.slice(slash + 1));
  const op = ((): S3Op => {
    if (key === undefined) {
      if (req.method === 'GET') return q.has('uploads') ? 'list-uploads' : 'list';
      return req.method === 'POST' && q.has('delete') ? 'delete-many' : 'other';
    }
    switch (req.method) {
      case 'HEAD':
        return 'head';
      case 'GET':
        return 'get';
      case 'PUT':
        if (q.has('uploadId')) return 'put-part';
        return req.headers['x-amz-copy-source'] !== undefined ? 'copy' : 'put';
      case 'POST':
        return q.has('uploads') ? 'initiate-multipart' : q.has('uploadId') ? 'complete-multipart' : 'other';
      case 'DELETE':
        return q.has('uploadId') ? 'abort-multipart' : 'delete';
      default:
        return 'other';
    }
  })();
  return key === undefined ? { op } : { op, key };
}

/** A `match` for rules: requests of these operations, on keys ending with `key` (a string) or matching it (a RegExp) when given. */
export const matching =
  (ops: readonly S3Op[], key?: string | RegExp) =>
  (req: ProxiedRequest): boolean => {
    const r = s3Request(req);
    if (!ops.includes(r.op)) return false;
    if (key === undefined) return true;
    return r.key !== undefined && (typeof key === 'string' ? r.key.endsWith(key) : key.test(r.key));
  };

const HEAD_END = Buffer.from('\r\n\r\n');
/** A head bigger than this is not HTTP as the SDK sends it: relay the connection raw. */
const MAX_HEAD = 64 * 1024;
const S3_CODES: Readonly<Record<number, string>> = { 500: 'InternalError', 503: 'ServiceUnavailable', 429: 'SlowDown' };

function parseHead(head: string): ProxiedRequest {
  const [requestLine = '', ...lines] = head.split('\r\n');
  const [method = '', url = ''] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method, url, headers };
}

function errorResponse(req: ProxiedRequest, status: number): string {
  const code = S3_CODES[status] ?? 'InjectedFault';
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>fault injected by the test proxy</Message><RequestId>fault-proxy</RequestId></Error>`;
  const head = [
    `HTTP/1.1 ${status} ${code}`,
    'Content-Type: application/xml',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    '',
  ].join('\r\n');
  // A HEAD answer announces a length but carries no body.
  return req.method === 'HEAD' ? head : head + body;
}

/** Starts a proxy in front of `target` (e.g. the S3 server's port on 127.0.0.1). */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const rules: { rule: FaultRule; hits: number; removed: boolean }[] = [];
  const seen: (ProxiedRequest & { fault?: Fault['kind'] })[] = [];
  const sockets = new Set<net.Socket>();
  const stalled = new Set<net.Socket>();
  const listeners = new Set<(req: ProxiedRequest) => void>();

  const pick = (req: ProxiedRequest): Fault | undefined => {
    for (const r of rules) {
      if (r.removed || r.hits >= (r.rule.times ?? Infinity)) continue;
      if (r.rule.match && !r.rule.match(req)) continue;
      r.hits += 1;
      return r.rule.fault;
    }
    return undefined;
  };

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    new Connection(client, targetPort, sockets, stalled, (req) => {
      const fault = pick(req);
      seen.push({ ...req, ...(fault ? { fault: fault.kind } : {}) });
      for (const l of listeners) l(req);
      return fault;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    inject(rule) {
      const entry = { rule, hits: 0, removed: false };
      rules.push(entry);
      return {
        get hits() {
          return entry.hits;
        },
        remove: () => void (entry.removed = true),
      };
    },
    heal() {
      for (const r of rules) r.removed = true;
      for (const s of stalled) s.resetAndDestroy();
      stalled.clear();
    },
    seen,
    onRequest(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      for (const s of sockets) s.resetAndDestroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * One client connection: parses request heads, relays pass-through requests (and their
 * Content-Length bodies) to one upstream connection, and applies a fault where a rule says so.
 * Responses are relayed raw: the SDK never pipelines, so a response always belongs to the last request.
 */
class Connection {
  readonly #client: net.Socket;
  readonly #targetPort: number;
  readonly #sockets: Set<net.Socket>;
  readonly #stalled: Set<net.Socket>;
  readonly #decide: (req: ProxiedRequest) => Fault | undefined;
  #upstream: net.Socket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  /** head: waiting for a request head; body: relaying `#bodyLeft` bytes; raw: relaying everything; dead: discarding. */
  #state: 'head' | 'body' | 'raw' | 'dead' = 'head';
  #bodyLeft = 0;
  /** Bytes (both ways) the current request may still move before a `reset` or `stall` fault fires. */
  #budget = Infinity;
  #whenSpent: 'reset' | 'stall' = 'reset';
  /** A `hold` fault has the current request: nothing is relayed until its release. */
  #held = false;

  constructor(client: net.Socket, targetPort: number, sockets: Set<net.Socket>, stalled: Set<net.Socket>, decide: (req: ProxiedRequest) => Fault | undefined) {
    this.#client = client;
    this.#targetPort = targetPort;
    this.#sockets = sockets;
    this.#stalled = stalled;
    this.#decide = decide;
    client.on('data', (chunk: Buffer) => this.#onClientData(chunk));
    client.on('error', () => this.#upstream?.destroy());
    client.on('close', () => {
      this.#stalled.delete(client);
      this.#upstream?.destroy();
    });
  }

  /** A method, not a field test: TS would keep a narrowed `#state` across the calls that change it. */
  #dead(): boolean {
    return this.#state === 'dead';
  }

  #onClientData(chunk: Buffer): void {
    if (this.#dead()) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#drain();
  }

  /** Relays or parses what is buffered, until it runs out or a hold stops it. */
  #drain(): void {
    while (this.#buf.length > 0 && !this.#dead() && !this.#held) {
      if (this.#state === 'raw') {
        this.#toUpstream(this.#buf);
        this.#buf = Buffer.alloc(0);
      } else if (this.#state === 'body') {
        const part = this.#buf.subarray(0, this.#bodyLeft);
        this.#buf = this.#buf.subarray(part.length);
        this.#bodyLeft -= part.length;
        if (this.#bodyLeft === 0) this.#state = 'head';
        this.#toUpstream(part);
      } else if (!this.#onHead()) {
        return; // need more bytes
      }
    }
  }

  /** Handles one request head at the start of `#buf`; false when it is not complete yet. */
  #onHead(): boolean {
    const end = this.#buf.indexOf(HEAD_END);
    if (end === -1) {
      if (this.#buf.length > MAX_HEAD) this.#state = 'raw';
      return this.#buf.length > MAX_HEAD;
    }
    const headBytes = this.#buf.subarray(0, end + HEAD_END.length);
    this.#buf = this.#buf.subarray(headBytes.length);
    const req = parseHead(headBytes.toString('latin1'));
    const fault = this.#decide(req);
    if (fault?.kind === 'status') {
      this.#state = 'dead';
      this.#client.end(errorResponse(req, fault.status));
      return true;
    }
    if (fault?.kind === 'hold') {
      this.#held = true;
      this.#client.pause();
      const resume = (): void => {
        this.#held = false;
        if (this.#client.destroyed) return;
        this.#relay(undefined, req, headBytes);
        this.#drain();
        this.#client.resume();
      };
      void fault.release.then(resume, resume);
      return true;
    }
    this.#relay(fault, req, headBytes);
    return true;
  }

  /** Sends a request head upstream and sets up how its body and response are relayed. */
  #relay(fault: Fault | undefined, req: ProxiedRequest, headBytes: Buffer): void {
    this.#budget = fault?.kind === 'reset' || fault?.kind === 'stall' ? (fault.afterBytes ?? 0) : Infinity;
    this.#whenSpent = fault?.kind === 'stall' ? 'stall' : 'reset';
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.headers['transfer-encoding'] !== undefined) this.#state = 'raw'; // chunked: no more heads to find
    else if (length > 0) [this.#state, this.#bodyLeft] = ['body', length];
    else this.#state = 'head';
    this.#toUpstream(headBytes);
  }

  /** Spends the reset budget: how many of `n` bytes may still go through. */
  #spend(n: number): number {
    const allowed = Math.min(n, this.#budget);
    this.#budget -= allowed;
    return allowed;
  }

  /** The budget ran out: reset both connections, or stall (keep both open, relay nothing more). */
  #spent(): void {
    this.#state = 'dead';
    if (this.#whenSpent === 'stall') {
      // Not reading lets the client's writes back up, as on a dead link.
      this.#client.pause();
      this.#upstream?.pause();
      this.#stalled.add(this.#client);
      return;
    }
    this.#client.resetAndDestroy();
    this.#upstream?.resetAndDestroy();
  }

  #toUpstream(bytes: Buffer): void {
    const allowed = this.#spend(bytes.length);
    if (allowed > 0 && !this.#connect().write(bytes.subarray(0, allowed))) {
      this.#client.pause();
      this.#upstream?.once('drain', () => this.#client.resume());
    }
    if (allowed < bytes.length) this.#spent();
  }

  #connect(): net.Socket {
    if (this.#upstream) return this.#upstream;
    const up = net.connect(this.#targetPort, '127.0.0.1');
    this.#upstream = up;
    this.#sockets.add(up);
    up.on('close', () => {
      this.#sockets.delete(up);
      if (!this.#client.destroyed) this.#client.end();
    });
    up.on('error', () => this.#client.destroy());
    up.on('data', (chunk: Buffer) => {
      if (this.#dead()) return;
      const allowed = this.#spend(chunk.length);
      if (allowed > 0 && !this.#client.write(chunk.subarray(0, allowed))) {
        up.pause();
        this.#client.once('drain', () => up.resume());
      }
      if (allowed < chunk.length) this.#spent();
    });
    return up;
  }
}
