// Conditional deletes for the test S3 server, as S3 general purpose buckets serve them: a DELETE
// with `If-Match: <etag>` and a DeleteObjects entry with `<ETag>` delete the key only while its
// ETag matches (412 PreconditionFailed, or that key's Error in the DeleteObjects answer); a
// missing key is NoSuchKey. s3rver ignores both and deletes, and its DeleteObjects reports every
// key as deleted, so this middleware serves DeleteObjects itself (each key checked and removed
// under the store's per-key commit lock) and a DELETE that carries If-Match.

import { createRequire } from 'node:module';

/** The Koa context fields this middleware touches. */
interface Ctx {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  readonly req: import('node:http').IncomingMessage;
  get(name: string): string;
  status: number;
  body: unknown;
  type: string;
}
interface Store {
  deleteIfMatch(bucket: string, key: string, etag: string | undefined): Promise<'deleted' | 'missing' | 'mismatch'>;
}
interface Entry {
  readonly Key?: unknown;
  readonly ETag?: unknown;
}

const require = createRequire(import.meta.url);
const xml = require('fast-xml-parser') as { validate(s: string): true | object; parse(s: string, o: object): { Delete?: { Object?: Entry | Entry[]; Quiet?: unknown } } };
const he = require('he') as { decode(s: string): string };
const S3Error = require('s3rver/lib/models/error.js') as new (code: string, message: string, detail?: object) => Error;

const xmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const PRECONDITION = 'At least one of the pre-conditions you specified did not hold';

async function bodyOf(req: import('node:http').IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The middleware (its context typed as s3rver's Koa context is by its caller: `object`). */
export function conditionalDeletes(store: Store): (koa: object, next: () => Promise<void>) => Promise<void> {
  return async (koa, next) => {
    const ctx = koa as Ctx;
    // `/bucket`, `/bucket/` (the SDK's DeleteObjects) or `/bucket/key`.
    const m = /^\/([^/]+)(?:\/(.*))?$/s.exec(ctx.path);
    if (!m) return next();
    const bucket = m[1] as string;
    const key = m[2] ? m[2] : undefined;
    if (ctx.method === 'DELETE' && key !== undefined && ctx.get('if-match') && ctx.query.uploadId === undefined) {
      const outcome = await store.deleteIfMatch(bucket, decodeURIComponent(key), ctx.get('if-match'));
      if (outcome === 'missing') throw new S3Error('NoSuchKey', 'The specified key does not exist.');
      if (outcome === 'mismatch') throw new S3Error('PreconditionFailed', PRECONDITION, { Condition: 'If-Match' });
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'POST' || key !== undefined || ctx.query.delete === undefined) return next();
    const text = await bodyOf(ctx.req);
    // Keys stay strings (s3rver's parser turns "123" into a number); entities are decoded.
    const parsed = xml.validate(text) === true ? xml.parse(text, { parseNodeValue: false, tagValueProcessor: (v: string) => he.decode(v) }) : undefined;
    if (!parsed?.Delete?.Object) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    const quiet = String(parsed.Delete.Quiet) === 'true';
    const entries = ([] as Entry[]).concat(parsed.Delete.Object);
    const parts = await Promise.all(
      entries.map(async (e) => {
        const key = String(e.Key);
        const etag = e.ETag === undefined ? undefined : String(e.ETag);
        const outcome = await store.deleteIfMatch(bucket, key, etag);
        if (outcome === 'mismatch') return `<Error><Key>${xmlEscape(key)}</Key><Code>PreconditionFailed</Code><Message>${PRECONDITION}</Message></Error>`;
        if (outcome === 'missing' && etag !== undefined) return `<Error><Key>${xmlEscape(key)}</Key><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`;
        return quiet ? '' : `<Deleted><Key>${xmlEscape(key)}</Key></Deleted>`;
      }),
    );
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join('')}</DeleteResult>`;
  };
}
