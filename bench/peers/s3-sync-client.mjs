// Runs s3-sync-client (installed here, outside the root package.json) the way its README shows:
// one `sync(localDir, 's3://bucket', { del: true })`, library defaults otherwise.
// Usage: node bench/peers/s3-sync-client.mjs <localDir> <bucket>; endpoint in BENCH_S3_ENDPOINT,
// keys and region from the usual AWS_* variables.
import { S3Client } from '@aws-sdk/client-s3';
import { S3SyncClient } from 's3-sync-client';

const [localDir, bucket] = process.argv.slice(2);
const endpoint = process.env.BENCH_S3_ENDPOINT;
if (!localDir || !bucket || !endpoint) {
  process.stderr.write('usage: BENCH_S3_ENDPOINT=URL node bench/peers/s3-sync-client.mjs <localDir> <bucket>\n');
  process.exit(2);
}
const client = new S3Client({
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  forcePathStyle: true,
  // Newer SDKs default to aws-chunked checksum bodies, which s3rver stores as the object bytes.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const { sync } = new S3SyncClient({ client });
const out = await sync(localDir, `s3://${bucket}`, { del: true });
process.stdout.write(`${JSON.stringify({ created: out.created.length, updated: out.updated.length, deleted: out.deleted.length })}\n`);
client.destroy();
