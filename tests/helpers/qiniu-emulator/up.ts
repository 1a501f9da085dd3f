// The up service's rules shared by every upload flavour (which key a token may write, when an
// existing object may be overwritten, what the answer looks like), and the form upload itself.

import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import { verifyUploadToken, type EmulatorKeys, type PutPolicy, type Refusal } from './auth.js';
import { fail, ok, refuse, type Reply } from './http.js';
import type { Blob, ObjectStore } from './store.js';

export type UploadKind = 'form' | 'resumable';

export interface Target {
  readonly bucket: string;
  /** null: the service names the object after its hash. */
  readonly key: string | null;
}

export const isRefusal = (x: Target | Refusal): x is Refusal => 'status' in x;

/** Which object an upload under `policy` writes, or the service's refusal (protocol §3). */
export function resolveTarget(store: ObjectStore, policy: PutPolicy, requestedKey: string | null): Target | Refusal {
  const colon = policy.scope.indexOf(':');
  const bucket = colon < 0 ? policy.scope : policy.scope.slice(0, colon);
  const scopeKey = colon < 0 ? undefined : policy.scope.slice(colon + 1);
  if (!store.hasBucket(bucket)) return { status: 631, error: 'no such bucket' };
  let key = requestedKey;
  if (scopeKey !== undefined) {
    if (policy.isPrefixalScope) {
      if (key === null || !key.startsWith(scopeKey)) return { status: 403, error: "key doesn't match scope" };
    } else if (key === null) {
      key = scopeKey;
    } else if (key !== scopeKey) {
      return { status: 403, error: "key doesn't match scope" };
    }
  }
  if (key !== null && key.includes('\0')) return { status: 400, error: 'key must not contain null byte' };
  if (key !== null && Buffer.byteLength(key) > 750) return { status: 400, error: 'key too long' };
  return { bucket, key };
}

export interface Upload {
  readonly blob: Blob;
  /** The object's hash: the blob's qetag, or etag v2 for odd multipart sizes. */
  readonly hash: string;
  readonly mimeType: string;
  readonly fname: string;
  /** Metadata without the `x-qn-meta-` prefix. */
  readonly meta: Record<string, string>;
  readonly customVars: Record<string, string>;
}

/**
 * Stores an upload under the overwrite rules: scope `bucket` form uploads and any `insertOnly`
 * upload never replace different content (614); resumable and `bucket:key` uploads overwrite.
 */
export function commitUpload(store: ObjectStore, policy: PutPolicy, target: Target, up: Upload, kind: UploadKind): Reply {
  const key = target.key ?? up.hash;
  if (policy.fsizeLimit !== undefined && up.blob.size > policy.fsizeLimit) return fail(413, 'file too large');
  const existing = store.get(target.bucket, key);
  const insertOnly = Boolean(policy.insertOnly) || (kind === 'form' && !policy.scope.includes(':'));
  if (existing && insertOnly && existing.hash !== up.hash) return fail(614, 'file exists');
  if (!(existing && insertOnly)) {
    store.put(target.bucket, {
      key,
      fsize: up.blob.size,
      hash: up.hash,
      md5: up.blob.md5,
      mimeType: up.mimeType,
      putTime: Date.now() * 1e4,
      meta: up.meta,
      file: up.blob.file,
    });
  }
  if (policy.returnBody === undefined) return ok({ hash: up.hash, key });
  return renderReturnBody(policy.returnBody, { key, etag: up.hash, fsize: up.blob.size, mimeType: up.mimeType, bucket: target.bucket, fname: up.fname }, up.customVars);
}

/** Fills `$(var)` magic variables, JSON-escaping strings so a quoted template stays valid JSON. */
function renderReturnBody(template: string, vars: Record<string, string | number>, custom: Record<string, string>): Reply {
  const text = template.replace(/\$\(([^)]+)\)/g, (_, name: string) => {
    const v = name.startsWith('x:') ? custom[name] : vars[name];
    if (v === undefined) return '';
    return typeof v === 'number' ? String(v) : JSON.stringify(v).slice(1, -1);
  });
  try {
    return ok(JSON.parse(text));
  } catch {
    return fail(400, 'returnBody is not valid JSON after rendering');
  }
}

/** Splits `x-qn-meta-*` and `x:*` entries out of a name/value record. */
export function extras(fields: Record<string, string>): { meta: Record<string, string>; customVars: Record<string, string> } {
  const meta: Record<string, string> = {};
  const customVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (k.toLowerCase().startsWith('x-qn-meta-')) meta[k.slice('x-qn-meta-'.length)] = v;
    else if (k.startsWith('x:')) customVars[k] = v;
  }
  return { meta, customVars };
}

/** `POST /` multipart form upload; fields may come after the file part (crc32, metadata). */
export async function formUpload(req: IncomingMessage, store: ObjectStore, keys: EmulatorKeys): Promise<Reply> {
  const fields: Record<string, string> = {};
  let file: { blob: Promise<Blob>; filename: string; mimeType: string } | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const bb = busboy({ headers: req.headers, defParamCharset: 'utf8' });
      bb.on('field', (name, value) => (fields[name] = value));
      bb.on('file', (_name, stream, info) => {
        const blob = store.writeBlob(stream);
        blob.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
        file = { blob, filename: info.filename ?? '', mimeType: info.mimeType };
      });
      bb.on('close', resolve);
      bb.on('error', reject);
      req.pipe(bb);
    });
  } catch {
    return fail(400, 'malformed multipart body');
  }
  if (!file) return fail(400, 'file not specified');
  const blob = await file.blob;
  const token = verifyUploadToken(fields.token, keys);
  if (token.refusal) return refuse(token.refusal);
  if (fields.crc32 !== undefined && Number(fields.crc32) !== blob.crc32) return fail(406, 'crc32 not match');
  const target = resolveTarget(store, token.policy, fields.key ?? null);
  if (isRefusal(target)) return refuse(target);
  const { meta, customVars } = extras(fields);
  const upload: Upload = { blob, hash: blob.qetag, mimeType: file.mimeType, fname: file.filename, meta, customVars };
  return commitUpload(store, token.policy, target, upload, 'form');
}
