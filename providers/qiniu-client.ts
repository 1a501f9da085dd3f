// Everything the Qiniu provider needs around the SDK: credentials, the SDK configuration for a
// region or explicit hosts, the mapping of Kodo status codes to ProviderError kinds, and the
// plain HTTP download (the SDK has none).

import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import qiniu from 'qiniu';
import type { RemoteConfig } from '../agent/config.js';
import { QetagHasher } from '../agent/hasher.js';
import { ProviderError } from './provider.js';

export type QiniuRemote = Extract<RemoteConfig, { provider: 'qiniu' }>;

/** A Qiniu remote that cannot work as configured; the CLI reports it as bad config (exit 2). */
export class QiniuConfigError extends Error {
  override readonly name: string = 'QiniuConfigError';
}

/** Credentials missing, unreadable or too widely readable (exit 2). Never carries a secret. */
export class QiniuCredentialsError extends QiniuConfigError {
  override readonly name: string = 'QiniuCredentialsError';
}

export interface QiniuCredentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

const HOW = 'set QINIU_ACCESS_KEY and QINIU_SECRET_KEY, or point "credentialsFile" at a JSON file {"accessKey": …, "secretKey": …} with mode 600';

/** QINIU_ACCESS_KEY / QINIU_SECRET_KEY win when set; else the credentials file, if private to its owner. */
export async function loadQiniuCredentials(cfg: QiniuRemote, env: NodeJS.ProcessEnv): Promise<QiniuCredentials> {
  const ak = env.QINIU_ACCESS_KEY;
  const sk = env.QINIU_SECRET_KEY;
  if (ak && sk) return { accessKey: ak, secretKey: sk };
  if (ak || sk) {
    const missing = ak ? 'QINIU_SECRET_KEY' : 'QINIU_ACCESS_KEY';
    throw new QiniuCredentialsError(`${missing} is not set while ${ak ? 'QINIU_ACCESS_KEY' : 'QINIU_SECRET_KEY'} is: set both`);
  }
  const file = cfg.credentialsFile;
  if (file === undefined) throw new QiniuCredentialsError(`no Qiniu credentials: ${HOW}`);
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new QiniuCredentialsError(`cannot read the Qiniu credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // Mode bits mean nothing on Windows (ACLs decide there), so the check is POSIX-only.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    throw new QiniuCredentialsError(
      `the Qiniu credentials file ${file} is readable by group or others (mode ${octal}); run: chmod 600 ${file}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new QiniuCredentialsError(`the Qiniu credentials file ${file} is not valid JSON; expected {"accessKey": "…", "secretKey": "…"}`);
  }
  const { accessKey, secretKey } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof accessKey !== 'string' || accessKey === '' || typeof secretKey !== 'string' || secretKey === '') {
    throw new QiniuCredentialsError(`the Qiniu credentials file ${file} needs non-empty string fields "accessKey" and "secretKey"`);
  }
  return { accessKey, secretKey };
}

/**
 * SDK configuration. Explicit `hosts` become a static Region (no region query); their scheme
 * decides http or https, because the SDK takes the scheme from `useHttpsDomain` alone.
 */
export function sdkConfig(cfg: QiniuRemote): qiniu.conf.Config {
  if (cfg.hosts) {
    const entries = Object.entries(cfg.hosts).filter((e): e is [string, string] => typeof e[1] === 'string');
    const urls = entries.map(([name, u]) => [name, new URL(u)] as const);
    const schemes = new Set(urls.map(([, u]) => u.protocol));
    if (schemes.size !== 1) throw new QiniuConfigError('qiniu "hosts" must all use the same scheme (all http:// or all https://)');
    const useHttpsDomain = schemes.has('https:');
    const defaultScheme = useHttpsDomain ? 'https' : 'http';
    const services: Record<string, qiniu.httpc.Endpoint[]> = {};
    for (const [name, u] of urls) services[name] = [new qiniu.httpc.Endpoint(u.host, { defaultScheme })];
    const region = new qiniu.httpc.Region({ regionId: cfg.region ?? 'custom', services });
    return new qiniu.conf.Config({ regionsProvider: region, useHttpsDomain });
  }
  if (cfg.region === undefined) throw new QiniuConfigError('qiniu needs "region" (z0, z1, …) or "hosts"');
  const region = qiniu.httpc.Region.fromRegionId(cfg.region, { preferredScheme: 'https' });
  return new qiniu.conf.Config({ regionsProvider: region, useHttpsDomain: true });
}

/** The download domain as a URL without a trailing slash; a bare host means https. */
export function resolveDomain(domain: string): string {
  const withScheme = /^https?:\/\//i.test(domain) ? domain : `https://${domain}`;
  return withScheme.replace(/\/+$/, '');
}

/** What a failing call was doing, for messages a user can act on. */
export interface CallContext {
  readonly what: string;
  readonly bucket: string;
  /** Said after a 401/403 message, when the call knows a likelier cause. */
  readonly hint?: string;
}

/** Maps a Kodo answer that was not 200 to a ProviderError kind (protocol doc §2). */
export function statusError(status: number, detail: string | undefined, ctx: CallContext): ProviderError {
  const said = `${status}${detail ? ` ${detail}` : ''}`;
  const hint = ctx.hint ? `; ${ctx.hint}` : '';
  if (status === 401) {
    return new ProviderError('auth', 'qiniu', `Qiniu rejected the access/secret key while trying to ${ctx.what} (${said}): check QINIU_ACCESS_KEY/QINIU_SECRET_KEY or the credentials file${hint}`);
  }
  if (status === 403) {
    return new ProviderError('denied', 'qiniu', `Qiniu refused to ${ctx.what} (${said}): the key lacks permission on bucket "${ctx.bucket}", or this machine's clock is off${hint}`);
  }
  if (status === 631) {
    return new ProviderError('denied', 'qiniu', `Qiniu has no such bucket "${ctx.bucket}" (631) in the configured region or hosts`);
  }
  if (status === 404 || status === 612) return new ProviderError('not-found', 'qiniu', `cannot ${ctx.what}: no such object (${said})`);
  if (status >= 500 || status === 573 || status === 429) {
    return new ProviderError('transient', 'qiniu', `Qiniu failed to ${ctx.what} (${said}); will retry`);
  }
  return new ProviderError('other', 'qiniu', `Qiniu could not ${ctx.what} (${said})`);
}

/** Maps a rejected SDK call (network fault, timeout, non-JSON body) to a ProviderError. */
export function requestError(e: unknown, ctx: CallContext): ProviderError {
  if (e instanceof ProviderError) return e;
  const err = e as Error & { resp?: { statusCode?: number }; code?: string };
  const status = err.resp?.statusCode;
  if (status !== undefined && status > 0 && status !== 200) return statusError(status, err.message, ctx);
  return new ProviderError('transient', 'qiniu', `cannot reach Qiniu to ${ctx.what}: ${err.code ?? err.name}: ${err.message}`, { cause: e });
}

/** Keep-alive agents owned by one provider and destroyed by its close(). */
export interface Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

export const createAgents = (): Agents => ({
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
});

export interface FetchOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytesSoFar: number) => void;
  /** Socket idle time before the download fails as transient. @default 60000 */
  readonly idleTimeoutMs?: number;
}

/** GETs `url` into `destFile` (created or truncated), hashing the bytes as they stream. */
export async function fetchToFile(url: string, destFile: string, agents: Agents, ctx: CallContext, opts: FetchOptions = {}): Promise<{ bytes: number; qetag: string }> {
  const idle = opts.idleTimeoutMs ?? 60_000;
  const secure = url.startsWith('https:');
  try {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (secure ? https : http).get(url, { agent: secure ? agents.https : agents.http, signal: opts.signal, headers: { 'Accept-Encoding': 'identity' } }, resolve);
      req.on('error', reject);
      req.setTimeout(idle, () => req.destroy(Object.assign(new Error(`no data for ${idle / 1000} s`), { code: 'ETIMEDOUT' })));
    });
    if (res.statusCode !== 200) {
      const body = await readSmall(res);
      throw statusError(res.statusCode ?? 0, errorText(body), ctx);
    }
    const hasher = new QetagHasher();
    let bytes = 0;
    await pipeline(
      res,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hasher.update(chunk);
          bytes += chunk.length;
          opts.onProgress?.(bytes);
          yield chunk;
        }
      },
      createWriteStream(destFile),
      { signal: opts.signal },
    );
    return { bytes, qetag: hasher.digest() };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw requestError(e, ctx);
  }
}

async function readSmall(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    if (size < 64 * 1024) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The `error` field of a Kodo JSON error body, else the raw text (shortened). */
export function errorText(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.trim().slice(0, 200) || undefined;
}
