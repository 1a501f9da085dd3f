// Resumable uploads: v2 (init / numbered parts with a hex Content-MD5 / complete) and the legacy
// v1 (mkblk / mkfile), authorised by `Authorization: UpToken <token>` on every request.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { verifyUploadToken, type EmulatorKeys, type PutPolicy } from './auth.js';
import { decodeUrlsafeB64, multipartHash } from './codec.js';
import { fail, headerValue, ok, readBody, refuse, type Reply } from './http.js';
import type { Blob, ObjectStore } from './store.js';
import { commitUpload, extras, isRefusal, resolveTarget, type Target } from './up.js';

const MAX_BLOCK = 4 * 1024 * 1024;
const MIN_PART = 1024 * 1024;

interface V2Upload {
  readonly bucket: string;
  readonly encodedKey: string;
  readonly target: Target;
  readonly policy: PutPolicy;
  readonly parts: Map<number, Blob>;
}

async function* concat(blobs: readonly Blob[]): AsyncGenerator<Buffer> {
  for (const b of blobs) for await (const chunk of createReadStream(b.file)) yield chunk as Buffer;
}

export class ResumableUploads {
  readonly #store: ObjectStore;
  readonly #keys: EmulatorKeys;
  readonly #v2 = new Map<string, V2Upload>();
  readonly #blocks = new Map<string, Blob>();

  constructor(store: ObjectStore, keys: EmulatorKeys) {
    this.#store = store;
    this.#keys = keys;
  }

  #token(req: IncomingMessage): { policy: PutPolicy; refusal?: undefined } | { refusal: Reply } {
    const auth = headerValue(req, 'authorization');
    const token = auth?.startsWith('UpToken ') ? auth.slice('UpToken '.length) : undefined;
    const check = verifyUploadToken(token, this.#keys);
    return check.refusal ? { refusal: refuse(check.refusal) } : { policy: check.policy };
  }

  /** `POST /buckets/<bucket>/objects/<ek>/uploads` */
  async init(req: IncomingMessage, bucket: string, encodedKey: string): Promise<Reply> {
    await readBody(req);
    const t = this.#token(req);
    if (t.refusal) return t.refusal;
    const key = encodedKey === '~' ? null : decodeUrlsafeB64(encodedKey)?.toString('utf8');
    if (key === undefined) return fail(400, 'invalid encoded key');
    if (!t.policy.scope.startsWith(bucket) || !/^(:|$)/.test(t.policy.scope.slice(bucket.length))) {
      return fail(403, "key doesn't match scope");
    }
    const target = resolveTarget(this.#store, t.policy, key);
    if (isRefusal(target)) return refuse(target);
    const uploadId = randomBytes(12).toString('hex');
    this.#v2.set(uploadId, { bucket, encodedKey, target, policy: t.policy, parts: new Map() });
    return ok({ uploadId, expireAt: Math.floor(Date.now() / 1000) + 7 * 86400 });
  }

  #upload(bucket: string, encodedKey: string, uploadId: string): V2Upload | undefined {
    const u = this.#v2.get(uploadId);
    return u && u.bucket === bucket && u.encodedKey === encodedKey ? u : undefined;
  }

  /** `PUT …/uploads/<uploadId>/<partNumber>`; answers the part's hex md5, which the SDK requires. */
  async part(req: IncomingMessage, bucket: string, encodedKey: string, uploadId: string, partNumber: number): Promise<Reply> {
    const t = this.#token(req);
    const u = this.#upload(bucket, encodedKey, uploadId);
    const blob = await this.#store.writeBlob(req);
    if (t.refusal) return t.refusal;
    if (!u) return fail(612, 'no such uploadId');
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) return fail(400, 'invalid partNumber');
    const md5 = headerValue(req, 'content-md5');
    if (md5 !== undefined && md5.toLowerCase() !== blob.md5) return fail(400, 'Content-MD5 not match');
    u.parts.set(partNumber, blob);
    return ok({ etag: blob.qetag, md5: blob.md5 });
  }

  /** `POST …/uploads/<uploadId>` with the JSON part list. */
  async complete(req: IncomingMessage, bucket: string, encodedKey: string, uploadId: string): Promise<Reply> {
    const body = await readBody(req);
    const t = this.#token(req);
    if (t.refusal) return t.refusal;
    const u = this.#upload(bucket, encodedKey, uploadId);
    if (!u) return fail(612, 'no such uploadId');
    let spec: { fname?: string; mimeType?: string; customVars?: Record<string, string>; metadata?: Record<string, string>; parts?: { etag: string; partNumber: number }[] };
    try {
      spec = JSON.parse(body.toString('utf8')) as typeof spec;
    } catch {
      return fail(400, 'invalid JSON body');
    }
    const blobs: Blob[] = [];
    let previous = 0;
    for (const p of spec.parts ?? []) {
      const blob = u.parts.get(p.partNumber);
      if (!blob || blob.qetag !== p.etag) return fail(400, `invalid part ${p.partNumber}`);
      if (p.partNumber <= previous) return fail(400, 'parts must be in ascending order');
      previous = p.partNumber;
      blobs.push(blob);
    }
    if (blobs.slice(0, -1).some((b) => b.size < MIN_PART)) return fail(400, 'part is smaller than 1 MiB');
    const whole = await this.#store.writeBlob(concat(blobs));
    const hash = multipartHash(blobs.map((b) => ({ size: b.size, qetag: b.qetag })), whole.qetag);
    const { meta } = extras(spec.metadata ?? {});
    this.#v2.delete(uploadId);
    const upload = { blob: whole, hash, mimeType: spec.mimeType || 'application/octet-stream', fname: spec.fname ?? '', meta, customVars: spec.customVars ?? {} };
    return commitUpload(this.#store, u.policy, u.target, upload, 'resumable');
  }

  /** `DELETE …/uploads/<uploadId>` */
  abort(bucket: string, encodedKey: string, uploadId: string): Reply {
    return this.#upload(bucket, encodedKey, uploadId) && this.#v2.delete(uploadId) ? ok({}) : fail(612, 'no such uploadId');
  }

  /** v1 `POST /mkblk/<blockSize>`: one whole block; answers ctx and the crc32 the SDK checks. */
  async mkblk(req: IncomingMessage, blockSize: number): Promise<Reply> {
    const t = this.#token(req);
    const blob = await this.#store.writeBlob(req);
    if (t.refusal) return t.refusal;
    if (blob.size !== blockSize || blob.size > MAX_BLOCK) return fail(400, 'invalid block size');
    const ctx = randomBytes(16).toString('base64url');
    this.#blocks.set(ctx, blob);
    const host = headerValue(req, 'host') ?? '';
    return ok({ ctx, checksum: blob.qetag, crc32: blob.crc32, offset: blob.size, host: `http://${host}`, expired_at: Math.floor(Date.now() / 1000) + 7 * 86400 });
  }

  /** v1 `POST /mkfile/<fsize>[/key/<b64>][/mimeType/<b64>][/fname/<b64>][/x:…/<b64>][/x-qn-meta-…/<b64>]` */
  async mkfile(req: IncomingMessage, fsize: number, rest: string): Promise<Reply> {
    const body = (await readBody(req)).toString('utf8');
    const t = this.#token(req);
    if (t.refusal) return t.refusal;
    const segs = rest.split('/').filter((s) => s !== '');
    const params: Record<string, string> = {};
    for (let i = 0; i + 1 < segs.length; i += 2) params[segs[i] as string] = decodeUrlsafeB64(segs[i + 1] as string)?.toString('utf8') ?? '';
    const blobs: Blob[] = [];
    for (const ctx of body === '' ? [] : body.split(',')) {
      const blob = this.#blocks.get(ctx);
      if (!blob) return fail(701, 'invalid ctx');
      blobs.push(blob);
    }
    const target = resolveTarget(this.#store, t.policy, params.key ?? null);
    if (isRefusal(target)) return refuse(target);
    const whole = await this.#store.writeBlob(concat(blobs));
    if (whole.size !== fsize) return fail(400, 'fsize does not match the blocks');
    const { meta, customVars } = extras(params);
    const upload = { blob: whole, hash: whole.qetag, mimeType: params.mimeType || 'application/octet-stream', fname: params.fname ?? '', meta, customVars };
    return commitUpload(this.#store, t.policy, target, upload, 'resumable');
  }
}
