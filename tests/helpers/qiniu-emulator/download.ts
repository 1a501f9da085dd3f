// The download domain of one bucket: `GET /<percent-encoded key>`, plain for a public bucket,
// `?e=<deadline>&token=AK:sign` for a private one. The key is decoded from the raw request
// target (never through WHATWG URL, which would collapse `.`/`..` segments).

import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { verifyPrivateDownload, type EmulatorKeys } from './auth.js';
import { fail, headerValue, send } from './http.js';
import type { ObjectStore } from './store.js';

export interface DownloadDomain {
  readonly bucket: string;
  readonly private: boolean;
}

export async function serveDownload(
  req: IncomingMessage,
  res: ServerResponse,
  store: ObjectStore,
  keys: EmulatorKeys,
  domain: DownloadDomain,
): Promise<void> {
  const raw = req.url ?? '/';
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, fail(405, 'method not allowed'));
  if (domain.private) {
    const refusal = verifyPrivateDownload(raw, headerValue(req, 'host') ?? '', keys);
    if (refusal) return send(res, fail(refusal.status, refusal.error));
  }
  const q = raw.indexOf('?');
  let key: string;
  try {
    key = decodeURIComponent((q < 0 ? raw : raw.slice(0, q)).slice(1));
  } catch {
    return send(res, fail(400, 'invalid url encoding'));
  }
  const obj = store.get(domain.bucket, key);
  if (!obj) return send(res, fail(404, 'Document not found'));
  res.writeHead(200, {
    'Content-Type': obj.mimeType,
    'Content-Length': obj.fsize,
    ETag: `"${obj.hash}"`,
    'Last-Modified': new Date(Math.floor(obj.putTime / 1e4)).toUTCString(),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(createReadStream(obj.file), res).catch(() => res.destroy());
}
