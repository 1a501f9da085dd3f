// The server's own limit: a lean S3 client on plain node:http (keep-alive sockets, SigV4 header
// signing with an unsigned payload, regex XML parsing). It does only what a size-only sync needs,
// so the time it takes is what the server costs, not what an SDK costs.

import { createHash, createHmac, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { Readable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';
import type { FloorClient, FloorClientOptions, RemoteListing } from './floor-client.js';

/** node:crypto behind the Checksum shape the signer wants (sha256, or HMAC-sha256 with a secret). */
class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: Hash | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | ReturnType<typeof createHmac> {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(this.#secret));
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
}

const toBytes = (d: SourceData): Buffer | string =>
  typeof d === 'string' ? d : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);

/** S3's path encoding: each key segment percent-encoded (RFC 3986), slashes kept. */
const encodeKey = (key: string): string =>
  key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

const xmlText = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export class RawS3Client implements FloorClient {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #signer: SignatureV4;

  constructor(opts: FloorClientOptions) {
    this.#url = new URL(opts.endpoint);
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
    this.#signer = new SignatureV4({
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      region: opts.region,
      service: 's3',
      sha256: NodeSha256,
      // S3 signs the path as sent: no second encoding.
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  async #send(method: string, path: string, query: Record<string, string>, headers: Record<string, string>, body?: Buffer | Readable): Promise<Reply> {
    const signed = await this.#signer.sign({
      method,
      protocol: 'http:',
      hostname: this.#url.hostname,
      port: Number(this.#url.port),
      path,
      query,
      headers: { host: this.#url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
    });
    const qs = Object.entries(query)
      .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
      .join('&');
    return new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        { agent: this.#agent, host: this.#url.hostname, port: this.#url.port, method, path: qs ? `${path}?${qs}` : path, headers: signed.headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const reply = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
            if (reply.status >= 300) reject(new Error(`${method} ${path}: HTTP ${reply.status} ${reply.body.slice(0, 300)}`));
            else resolve(reply);
          });
        },
      );
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.on('error', reject).pipe(req);
    });
  }

  async list(bucket: string, prefix?: string): Promise<RemoteListing> {
    const out: RemoteListing = new Map();
    let token: string | undefined;
    do {
      const query = { 'list-type': '2', 'max-keys': '1000', ...(prefix ? { prefix } : {}), ...(token ? { 'continuation-token': token } : {}) };
      const reply = await this.#send('GET', `/${bucket}`, query, {});
      for (const [k, size] of this.#contents(reply.body)) out.set(k, size);
      const truncated = /<IsTruncated>true<\/IsTruncated>/.test(reply.body);
      const next = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(reply.body)?.[1];
      token = truncated && next ? xmlText(next) : undefined;
    } while (token);
    return out;
  }

  async topLevel(bucket: string): Promise<{ prefixes: string[]; objects: RemoteListing }> {
    const reply = await this.#send('GET', `/${bucket}`, { 'list-type': '2', delimiter: '/' }, {});
    if (/<IsTruncated>true<\/IsTruncated>/.test(reply.body)) throw new Error('topLevel: more than one page of top-level entries');
    return { prefixes: [...reply.body.matchAll(/<CommonPrefixes>\s*<Prefix>([\s\S]*?)<\/Prefix>/g)].map((m) => xmlText(m[1] ?? '')), objects: this.#contents(reply.body) };
  }

  #contents(body: string): RemoteListing {
    const out: RemoteListing = new Map();
    for (const m of body.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1] ?? '')?.[1];
      const size = /<Size>(\d+)<\/Size>/.exec(m[1] ?? '')?.[1];
      if (key !== undefined) out.set(xmlText(key), Number(size ?? 0));
    }
    return out;
  }

  async put(bucket: string, key: string, file: string, mtime: string): Promise<void> {
    const body = await readFile(file);
    await this.#send('PUT', `/${bucket}/${encodeKey(key)}`, {}, { 'content-length': String(body.length), 'x-amz-meta-mtime': mtime }, body);
  }

  async putMultipart(bucket: string, key: string, file: string, size: number, mtime: string, partSize: number, queueSize: number): Promise<void> {
    const path = `/${bucket}/${encodeKey(key)}`;
    const created = await this.#send('POST', path, { uploads: '' }, { 'x-amz-meta-mtime': mtime });
    const uploadId = xmlText(/<UploadId>([\s\S]*?)<\/UploadId>/.exec(created.body)?.[1] ?? '');
    const count = Math.ceil(size / partSize);
    const etags: string[] = new Array<string>(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const n = next++;
        const start = n * partSize;
        const end = Math.min(size, start + partSize);
        const reply = await this.#send(
          'PUT',
          path,
          { partNumber: String(n + 1), uploadId },
          { 'content-length': String(end - start) },
          createReadStream(file, { start, end: end - 1, highWaterMark: 1024 * 1024 }),
        );
        etags[n] = String(reply.headers.etag ?? '');
      }
    };
    await Promise.all(Array.from({ length: Math.min(queueSize, count) }, worker));
    const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(e)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const body = Buffer.from(xml);
    await this.#send('POST', path, { uploadId }, { 'content-length': String(body.length), 'content-type': 'application/xml' }, body);
  }

  async deleteMany(bucket: string, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const objects = keys.slice(i, i + 1000).map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`);
      const body = Buffer.from(`<Delete><Quiet>true</Quiet>${objects.join('')}</Delete>`);
      const md5 = createHash('md5').update(body).digest('base64');
      await this.#send('POST', `/${bucket}`, { delete: '' }, { 'content-length': String(body.length), 'content-md5': md5, 'content-type': 'application/xml' }, body);
    }
  }

  async head(bucket: string, key: string): Promise<void> {
    await this.#send('HEAD', `/${bucket}/${encodeKey(key)}`, {}, {}).catch((e: unknown) => {
      if (!(e instanceof Error && / HTTP 404/.test(e.message))) throw e;
    });
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
