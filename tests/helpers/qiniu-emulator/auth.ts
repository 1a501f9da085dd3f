// The emulator's verifiers for the three kinds of Qiniu credentials: management signatures
// ("Qiniu" and legacy "QBox"), upload tokens, and signed private download URLs. Pure functions
// of the request and a clock, so the documented test vectors can be checked directly.

import type { IncomingHttpHeaders } from 'node:http';
import { decodeUrlsafeB64, hmacSha1B64 } from './codec.js';

export interface EmulatorKeys {
  readonly accessKey: string;
  readonly secretKey: string;
}

/** An answer the service would give instead of doing the call. */
export interface Refusal {
  readonly status: number;
  readonly error: string;
}

export interface SignedRequest {
  readonly method: string;
  /** The raw request target, path plus query, exactly as received (`req.url`). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

const canonical = (name: string): string =>
  name
    .split('-')
    .map((t) => t.slice(0, 1).toUpperCase() + t.slice(1).toLowerCase())
    .join('-');

/**
 * The Host values a legitimate client may have signed. The Node SDK appends the port to a host
 * that already carries it (`127.0.0.1:9000:9000`); other SDKs sign the header as sent.
 */
export function signedHostForms(host: string): string[] {
  const port = /:(\d+)$/.exec(host)?.[1];
  return port === undefined ? [host] : [`${host}:${port}`, host];
}

/** The "Qiniu" string to sign (protocol §3), for one Host form. */
export function qiniuStringToSign(req: SignedRequest, host: string): string {
  const contentType = header(req.headers, 'content-type') ?? '';
  const qiniuHeaders = Object.keys(req.headers)
    .map((k) => canonical(k))
    .filter((k) => k.startsWith('X-Qiniu-') && k.length > 'X-Qiniu-'.length)
    .sort()
    .map((k) => `\n${k}: ${header(req.headers, k.toLowerCase()) ?? ''}`)
    .join('');
  let s = `${req.method.toUpperCase()} ${req.url}\nHost: ${host}\nContent-Type: ${contentType}${qiniuHeaders}\n\n`;
  if (req.body.length > 0 && contentType !== 'application/octet-stream') s += req.body.toString('utf8');
  return s;
}

/** The legacy "QBox" string: path and query, newline, then a form-urlencoded body. */
export function qboxStringToSign(req: SignedRequest): string {
  const formBody = header(req.headers, 'content-type') === 'application/x-www-form-urlencoded';
  return `${req.url}\n${formBody ? req.body.toString('utf8') : ''}`;
}

/** `20231114T221320Z` → epoch ms; undefined when malformed. */
export function parseQiniuDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

export interface ManagementCheckOptions {
  /** Clock for the X-Qiniu-Date skew check. @default Date.now() */
  readonly nowMs?: number;
  /** Largest accepted clock skew; the service allows 15 minutes. @default 900000 */
  readonly maxSkewMs?: number;
}

/** Verifies a management request's Authorization header; undefined when it is valid. */
export function verifyManagement(req: SignedRequest, keys: EmulatorKeys, opts: ManagementCheckOptions = {}): Refusal | undefined {
  const auth = header(req.headers, 'authorization');
  const m = auth === undefined ? null : /^(Qiniu|QBox) ([^:\s]+):(\S+)$/.exec(auth);
  if (!m) return { status: 401, error: 'bad token' };
  const [, scheme, ak, sig] = m;
  if (ak !== keys.accessKey) return { status: 401, error: 'bad token' };
  const candidates =
    scheme === 'QBox'
      ? [qboxStringToSign(req)]
      : signedHostForms(header(req.headers, 'host') ?? '').map((h) => qiniuStringToSign(req, h));
  if (!candidates.some((s) => hmacSha1B64(keys.secretKey, s) === sig)) return { status: 401, error: 'bad token' };
  const date = header(req.headers, 'x-qiniu-date');
  if (scheme === 'Qiniu' && date !== undefined) {
    const at = parseQiniuDate(date);
    const skew = Math.abs((opts.nowMs ?? Date.now()) - (at ?? 0));
    if (at === undefined || skew > (opts.maxSkewMs ?? 15 * 60_000)) return { status: 403, error: 'request time too skewed' };
  }
  return undefined;
}

/** The upload policy fields the emulator honours (protocol §3). */
export interface PutPolicy {
  readonly scope: string;
  readonly deadline: number;
  readonly isPrefixalScope?: number;
  readonly insertOnly?: number;
  readonly returnBody?: string;
  readonly fsizeLimit?: number;
}

export type TokenCheck = { readonly policy: PutPolicy; readonly refusal?: undefined } | { readonly refusal: Refusal };

/** Verifies `AK:sign:encodedPolicy`. */
export function verifyUploadToken(token: string | undefined, keys: EmulatorKeys, nowMs = Date.now()): TokenCheck {
  if (token === undefined || token === '') return { refusal: { status: 401, error: 'token not specified' } };
  const [ak, sig, encoded, ...rest] = token.split(':');
  if (ak !== keys.accessKey || sig === undefined || encoded === undefined || rest.length > 0) {
    return { refusal: { status: 401, error: 'bad token' } };
  }
  if (hmacSha1B64(keys.secretKey, encoded) !== sig) return { refusal: { status: 401, error: 'bad token' } };
  let policy: PutPolicy;
  try {
    policy = JSON.parse(decodeUrlsafeB64(encoded)?.toString('utf8') ?? '') as PutPolicy;
  } catch {
    return { refusal: { status: 401, error: 'bad token' } };
  }
  if (typeof policy.scope !== 'string' || typeof policy.deadline !== 'number') {
    return { refusal: { status: 401, error: 'bad token' } };
  }
  if (policy.deadline * 1000 < nowMs) return { refusal: { status: 401, error: 'token out of date' } };
  return { policy };
}

/**
 * Checks a private download URL: `…?e=<deadline>&token=AK:sign`, where the signature covers
 * `http://<Host><path>?e=<deadline>` (everything before `&token=`).
 */
export function verifyPrivateDownload(rawUrl: string, host: string, keys: EmulatorKeys, nowMs = Date.now()): Refusal | undefined {
  const at = rawUrl.lastIndexOf('&token=');
  if (at < 0) return { status: 401, error: 'download token not specified' };
  const base = rawUrl.slice(0, at);
  const [ak, sig] = rawUrl.slice(at + '&token='.length).split(':');
  const e = /[?&]e=(\d+)(?:&|$)/.exec(base)?.[1];
  if (ak !== keys.accessKey || sig === undefined || e === undefined) return { status: 401, error: 'download token auth failed' };
  if (hmacSha1B64(keys.secretKey, `http://${host}${base}`) !== sig) return { status: 401, error: 'download token auth failed' };
  if (Number(e) * 1000 < nowMs) return { status: 401, error: 'token out of date' };
  return undefined;
}
