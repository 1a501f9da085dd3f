// ListMultipartUploads and AbortMultipartUpload for the test S3 server (s3rver 3.7.1 answers
// NotImplemented / 405): incomplete multipart uploads are the litter a killed upload leaves in a
// bucket, and tests must be able to see them and the agent to remove them, as on S3.
// s3rver keeps each upload in `<uploads>/<uploadId>/` with a `key` file written at initiation;
// that file's mtime stands for the Initiated date.

import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** The Koa context fields this middleware touches. */
interface Ctx {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  status: number;
  body: unknown;
  type: string;
}
interface Store {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}

interface Upload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
}

const xmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

async function uploadsOf(store: Store, bucket: string): Promise<Upload[]> {
  const dir = store.getResourcePath(bucket, undefined, 'uploads');
  const out: Upload[] = [];
  for (const uploadId of await readdir(dir).catch(() => [])) {
    const key = await readFile(path.join(dir, uploadId, 'key'), 'utf8').catch(() => undefined);
    const st = await stat(path.join(dir, uploadId, 'key')).catch(() => undefined);
    if (key !== undefined && st) out.push({ key, uploadId, initiated: st.mtime });
  }
  // S3 lists uploads by key, then by initiation time.
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || a.initiated.getTime() - b.initiated.getTime());
}

function listXml(bucket: string, prefix: string, uploads: readonly Upload[]): string {
  const items = uploads
    .map(
      (u) =>
        `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(u.uploadId)}</UploadId>` +
        `<Initiator><ID>S3RVER</ID><DisplayName>S3RVER</DisplayName></Initiator><Owner><ID>S3RVER</ID><DisplayName>S3RVER</DisplayName></Owner>` +
        `<StorageClass>STANDARD</StorageClass><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${xmlEscape(prefix)}</Prefix>` +
    `<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`
  );
}

/**
 * Koa middleware: `GET /<bucket>?uploads[&prefix=]` lists incomplete uploads (one page, all of
 * them); `DELETE /<bucket>/<key>?uploadId=` aborts one. Must run before s3rver's router and
 * before `keyAsOneSegment` rewrites the path.
 */
export function multipartUploads(store: Store) {
  return async (koa: object, next: () => Promise<void>): Promise<void> => {
    // s3rver hands every middleware a full Koa context; Ctx names the fields used here.
    const ctx = koa as Ctx;
    const m = /^\/([^/]+)(?:\/(.*))?$/s.exec(ctx.path);
    const bucket = m?.[1];
    const key = m?.[2] ? decodeURIComponent(m[2]) : undefined;
    if (bucket && key === undefined && ctx.method === 'GET' && 'uploads' in ctx.query) {
      const prefix = one(ctx.query.prefix) ?? '';
      const uploads = (await uploadsOf(store, bucket)).filter((u) => u.key.startsWith(prefix));
      ctx.type = 'application/xml';
      ctx.body = listXml(bucket, prefix, uploads);
      return;
    }
    const uploadId = one(ctx.query.uploadId);
    if (bucket && key !== undefined && ctx.method === 'DELETE' && uploadId !== undefined) {
      const found = (await uploadsOf(store, bucket)).find((u) => u.uploadId === uploadId && u.key === key);
      if (!found) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`;
        return;
      }
      await rm(path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  };
}
