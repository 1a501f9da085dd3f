// Management calls on the rs/rsf services: stat, delete, move, copy, batch and list, with the
// status codes and messages the service uses (612 missing, 614 exists, 631 no bucket, 298 partial).

import { decodeEntry, decodeUrlsafeB64, urlsafeB64 } from './codec.js';
import { fail, ok, type Reply } from './http.js';
import type { ObjectStore, StoredObject } from './store.js';

const NO_SUCH_FILE = 'no such file or directory';

const statBody = (o: StoredObject): Record<string, unknown> => ({
  fsize: o.fsize,
  hash: o.hash,
  mimeType: o.mimeType,
  putTime: o.putTime,
  type: 0,
  md5: o.md5,
  ...(Object.keys(o.meta).length > 0 ? { 'x-qn-meta': { ...o.meta } } : {}),
});

/**
 * Runs one operation written as a path, the same text whether it came as a request path
 * (`/stat/<entry>`) or as a batch `op=` value.
 */
export function runOp(store: ObjectStore, op: string): Reply {
  const parts = op.split('/');
  const [empty, verb, a, b, forceWord, forceValue] = parts;
  if (empty !== '' || a === undefined) return fail(400, 'invalid op');
  const src = decodeEntry(a);
  if (!src) return fail(400, 'invalid entry');
  if (!store.hasBucket(src.bucket)) return fail(631, 'no such bucket');
  switch (verb) {
    case 'stat': {
      const o = store.get(src.bucket, src.key);
      return o ? ok(statBody(o)) : fail(612, NO_SUCH_FILE);
    }
    case 'delete':
      return store.delete(src.bucket, src.key) ? ok() : fail(612, NO_SUCH_FILE);
    case 'move':
    case 'copy': {
      const dst = b === undefined ? undefined : decodeEntry(b);
      if (!dst) return fail(400, 'invalid entry');
      const force = forceWord === 'force' && forceValue === 'true';
      return moveOrCopy(store, verb, src, dst, force);
    }
    default:
      return fail(400, 'invalid op');
  }
}

type Entry = { bucket: string; key: string };

function moveOrCopy(store: ObjectStore, verb: 'move' | 'copy', src: Entry, dst: Entry, force: boolean): Reply {
  if (!store.hasBucket(dst.bucket)) return fail(631, 'no such bucket');
  const o = store.get(src.bucket, src.key);
  if (!o) return fail(612, NO_SUCH_FILE);
  const same = src.bucket === dst.bucket && src.key === dst.key;
  if (store.get(dst.bucket, dst.key) && !force) return fail(614, 'file exists');
  if (same) return ok();
  // Copy keeps the content, hash and metadata; the new object gets a new putTime.
  const putTime = verb === 'copy' ? Date.now() * 1e4 : o.putTime;
  store.put(dst.bucket, { ...o, key: dst.key, putTime });
  if (verb === 'move') store.delete(src.bucket, src.key);
  return ok();
}

/** `POST /batch` with a form body of `op=` values; 298 when any op failed. */
export function runBatch(store: ObjectStore, body: Buffer): Reply {
  const ops = new URLSearchParams(body.toString('utf8')).getAll('op');
  if (ops.length === 0) return fail(400, 'empty op');
  if (ops.length > 1000) return fail(400, 'too many ops');
  const results = ops.map((op) => {
    const r = runOp(store, op);
    return r.body === undefined ? { code: r.status } : { code: r.status, data: r.body };
  });
  return { status: results.every((r) => r.code === 200) ? 200 : 298, body: results };
}

export interface ListOptions {
  /** Largest page the emulator returns, to exercise the marker loop. @default 1000 */
  readonly maxPageSize?: number;
}

/** `POST /list?bucket&prefix&limit&marker&delimiter` (rsf). */
export function runList(store: ObjectStore, query: URLSearchParams, opts: ListOptions = {}): Reply {
  const bucket = query.get('bucket') ?? '';
  if (!store.hasBucket(bucket)) return fail(631, 'no such bucket');
  const asked = Number(query.get('limit') ?? '');
  const limit = Math.min(Number.isInteger(asked) && asked >= 1 && asked <= 1000 ? asked : 1000, opts.maxPageSize ?? 1000);
  const marker = query.get('marker') ?? '';
  let after = '';
  if (marker !== '') {
    const decoded = parseMarker(marker);
    if (decoded === undefined) return fail(640, 'invalid marker');
    after = decoded;
  }
  const page = store.list(bucket, query.get('prefix') ?? '', after, limit, query.get('delimiter') ?? '');
  return ok({
    // Listing items carry no metadata, like the service's.
    items: page.items.map((o) => ({ key: o.key, fsize: o.fsize, hash: o.hash, mimeType: o.mimeType, putTime: o.putTime, type: 0, status: 0, md5: o.md5 })),
    ...(page.lastKey !== undefined ? { marker: urlsafeB64(JSON.stringify({ c: 0, k: page.lastKey })) } : {}),
    ...(query.get('delimiter') ? { commonPrefixes: page.commonPrefixes } : {}),
  });
}

function parseMarker(marker: string): string | undefined {
  try {
    const m = JSON.parse(decodeUrlsafeB64(marker)?.toString('utf8') ?? '') as { k?: unknown };
    return typeof m.k === 'string' ? m.k : undefined;
  } catch {
    return undefined;
  }
}
