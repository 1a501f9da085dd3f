// Builds the S3 SDK client for a remote: credentials only from the default AWS chain, keep-alive
// sockets, bounded SDK retries, and the settings S3-compatible endpoints need.

import http from 'node:http';
import https from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3ClientOptions {
  /** @default the region of the AWS chain (AWS_REGION, the profile), else us-east-1; us-east-1 with an endpoint */
  readonly region?: string;
  /** S3-compatible endpoint URL; unset means AWS. */
  readonly endpoint?: string;
  /** @default true with an endpoint, false for AWS */
  readonly forcePathStyle?: boolean;
  /** Profile in the shared AWS files; unset means the chain's default (AWS_PROFILE or "default"). */
  readonly profile?: string;
  /** Keep-alive sockets per client. @default 64 */
  readonly maxSockets?: number;
  /**
   * A request fails (and is retried) once no byte has moved on its connection for this long, so
   * a stalled connection never hangs a pass; an idle limit, not a total one, so large transfers
   * on slow links still finish.
   * @default SYNC_AGENT_S3_IDLE_TIMEOUT_MS from the environment (tests shorten it), else 120000
   */
  readonly idleTimeoutMs?: number;
}

/** The idle timeout when neither the options nor the environment set one. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

function idleTimeout(opts: S3ClientOptions): number {
  const fromEnv = Number(process.env.SYNC_AGENT_S3_IDLE_TIMEOUT_MS);
  return opts.idleTimeoutMs ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_IDLE_TIMEOUT_MS);
}

const quiet = (): void => undefined;
/**
 * The SDK would warn on the console (e.g. "non-retryable streaming request"); failures reach the
 * agent's log as ProviderErrors. No `info`: the SDK's logger middleware calls `logger?.info?.(…)`
 * after every request with a copy of its input and output filtered for secrets, built only when
 * the method exists. For a listing that is 1,000 objects walked per page, between the page's
 * response and the next page's request: 30 ms of the main thread per 10,000 keys listed, and
 * 270 ms per 10,000 small PUTs (bench/results.md §16). The SDK calls every other method without
 * checking it exists, so they stay.
 */
const SILENT = { trace: quiet, debug: quiet, warn: quiet, error: quiet } as unknown as S3ClientConfig['logger'];

export function createS3Client(opts: S3ClientOptions): S3Client {
  const agent = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
  let chainRegion: Promise<string> | undefined;
  return new S3Client({
    // With an endpoint, S3-compatible stores rarely care about the region but SigV4 needs one.
    // The chain's region is looked up once (the SDK asks for it on every request).
    region: opts.region ?? (opts.endpoint ? 'us-east-1' : () => (chainRegion ??= regionFromChain(opts.profile))),
    ...(opts.endpoint
      ? {
          endpoint: opts.endpoint,
          forcePathStyle: opts.forcePathStyle ?? true,
          // Default checksums send aws-chunked bodies that S3-compatible stores (s3rver, older
          // MinIO, Kodo) store as the object bytes; only send checksums where S3 requires them.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : { forcePathStyle: opts.forcePathStyle ?? false, followRegionRedirects: true }),
    // Passing the profile makes the default credential chain read it (and skip env keys).
    ...(opts.profile ? { profile: opts.profile } : {}),
    maxAttempts: 3,
    logger: SILENT,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agent),
      httpsAgent: new https.Agent(agent),
      connectionTimeout: 10_000,
      // Idle timeout: a stalled connection fails (and is retried) instead of hanging forever.
      socketTimeout: idleTimeout(opts),
    }),
  });
}

/** The region of the AWS chain (AWS_REGION, the profile's config file entry), else us-east-1. */
async function regionFromChain(profile: string | undefined): Promise<string> {
  const probe = new S3Client({ ...(profile ? { profile } : {}), logger: SILENT });
  try {
    return await probe.config.region();
  } catch {
    return 'us-east-1';
  } finally {
    probe.destroy();
  }
}
