// S3 SDK and network errors → ProviderError kinds, with messages that say what to do.
// Secrets never appear: only error names, the bucket, the key and the endpoint are quoted.

import { ProviderError, type ProviderErrorKind } from './provider.js';

const PROVIDER = 's3';

/** Where the error happened, for the message. */
export interface S3ErrorContext {
  readonly bucket: string;
  /** What was being done, e.g. 'listing', 'upload of docs/a.txt'. */
  readonly doing: string;
  readonly key?: string;
  /** Shown for network faults so the user can check it; undefined means AWS. */
  readonly endpoint?: string;
}

/** The fields of SDK errors (ServiceException, Node network errors) this module reads. */
interface ErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly Code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: unknown;
  readonly cause?: unknown;
}

const AUTH = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
  'Unauthorized',
  'Forbidden', // a HEAD has no body: a bare 403 is most often wrong credentials
]);
const DENIED = new Set(['AccessDenied', 'AllAccessDisabled', 'NoSuchBucket', 'AccountProblem', 'InvalidObjectState']);
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
const TRANSIENT = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeTooSkewed', // usually the clock catches up (NTP); retrying is cheap
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'AbortError',
]);
const INVALID_KEY = new Set(['KeyTooLongError', 'InvalidObjectName']);
/**
 * A conditional write lost: 412 when the object is not as If-None-Match/If-Match said, 409 when
 * S3 saw a concurrent conditional write to the same key (both: someone else wrote it; re-plan).
 */
const PRECONDITION = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);

/** Finds the most specific name: S3 error code, else a Node errno found on the error or its causes. */
function nameOf(err: ErrorShape): string {
  for (let e: ErrorShape | undefined = err, depth = 0; e && depth < 5; e = e.cause as ErrorShape | undefined, depth++) {
    if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  }
  return err.Code ?? err.name ?? 'Error';
}

function kindOf(name: string, status: number | undefined): ProviderErrorKind {
  if (AUTH.has(name) || status === 401) return 'auth';
  if (DENIED.has(name)) return 'denied';
  if (NOT_FOUND.has(name) || status === 404) return 'not-found';
  if (PRECONDITION.has(name) || status === 412) return 'precondition';
  if (TRANSIENT.has(name) || (status !== undefined && (status >= 500 || status === 429))) return 'transient';
  if (INVALID_KEY.has(name)) return 'invalid-key';
  if (status === 403) return 'auth';
  return 'other';
}

function messageFor(kind: ProviderErrorKind, name: string, err: ErrorShape, ctx: S3ErrorContext): string {
  const where = `bucket ${ctx.bucket}`;
  switch (kind) {
    case 'auth':
      if (name === 'CredentialsProviderError') {
        return `no AWS credentials found for ${where}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or "profile" with a profile in ~/.aws/credentials`;
      }
      return `S3 rejected the credentials for ${where} (${name}) during ${ctx.doing}: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile`;
    case 'denied':
      if (name === 'NoSuchBucket') return `${where} does not exist (NoSuchBucket): check "bucket", "region" and "endpoint" in the config`;
      return `S3 denied ${ctx.doing} in ${where} (${name}): check the bucket policy and the IAM permissions (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject)`;
    case 'not-found':
      return `${ctx.key ?? 'the object'} does not exist in ${where} (${name})`;
    case 'transient':
      if (name === 'AbortError') return `S3 ${ctx.doing} in ${where} was aborted`;
      return `S3 ${ctx.doing} in ${where} failed (${name}): ${ctx.endpoint ?? 'S3'} is unreachable, busy or timed out; will retry`;
    case 'precondition':
      return `${ctx.key ?? 'the object'} changed in ${where} during ${ctx.doing} (${name}): it is planned again next pass`;
    case 'invalid-key':
      return `S3 refused the key ${ctx.key ?? ''} in ${where} (${name}): rename the file`;
    default:
      return `S3 ${ctx.doing} in ${where} failed (${name}${err.message && err.message !== name ? `: ${err.message}` : ''})`;
  }
}

/** Maps anything thrown by the SDK (or a stream around it) to a ProviderError. */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const shape: ErrorShape = typeof err === 'object' && err !== null ? (err as ErrorShape) : { message: String(err) };
  const name = nameOf(shape);
  const kind = kindOf(name, shape.$metadata?.httpStatusCode);
  return new ProviderError(kind, PROVIDER, messageFor(kind, name, shape, ctx), { cause: err });
}

/** S3 per-key error codes (DeleteObjects `Errors`) → ProviderError. */
export function s3KeyError(code: string | undefined, message: string | undefined, ctx: S3ErrorContext): ProviderError {
  return mapS3Error({ name: code ?? 'Error', Code: code, message }, ctx);
}
