// Real-time latency of the daemon: from a file's close (writeFile resolved) to its object's
// existence on the S3 server, for single writes one at a time (HEAD polled every 5 ms) and for
// every file of a burst (the time its PUT was answered, see burst()).
// Run by hand, not in CI; results go in bench/latency.md.
//
//   node --import tsx bench/latency.ts [--debounce 500] [--singles 50] [--burst 1000] [--concurrency 8]

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { parseLogs, startCli, testEnv, waitFor, writeConfig } from '../tests/helpers/cli.js';
import { tmpDir } from '../tests/helpers/tmp.js';

const { values: args } = parseArgs({
  options: {
    debounce: { type: 'string', default: '500' },
    singles: { type: 'string', default: '50' },
    burst: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
  },
});
const DEBOUNCE = Number(args.debounce);
const SINGLES = Number(args.singles);
const BURST = Number(args.burst);
const CONCURRENCY = Number(args.concurrency);
const BUCKET = 'latency';
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of sorted values. */
function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
function summary(name: string, ms: readonly number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(0);
  return `| ${name} | ${s.length} | ${f(pct(s, 50))} | ${f(pct(s, 90))} | ${f(pct(s, 99))} | ${f(s.at(-1) ?? NaN)} |`;
}

async function exists(server: S3Server, key: string): Promise<boolean> {
  try {
    await server.client().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

async function listed(server: S3Server, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await server.client().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key ?? '');
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** One file at a time: write, then HEAD every 5 ms until the object is there. */
async function singles(server: S3Server, local: string): Promise<number[]> {
  const out: number[] = [];
  await mkdir(path.join(local, 'single'));
  for (let i = 0; i < SINGLES; i++) {
    const key = `single/s${i}.txt`;
    await writeFile(path.join(local, key), `single ${i}\n`.repeat(100));
    const closed = performance.now();
    while (!(await exists(server, key))) await pause(5);
    out.push(performance.now() - closed);
  }
  return out;
}

/**
 * BURST files written as fast as possible (16 at a time). Each object exists from the moment its
 * PUT is answered, which is when the agent logs the upload: the log's time (same wall clock, ms)
 * is used instead of polling, because listing 1,000 keys every few ms loads s3rver enough to
 * skew the very figure measured. A final listing checks that every object is really there.
 */
async function burst(server: S3Server, local: string, logs: () => Record<string, unknown>[]): Promise<{ latencies: number[]; writeMs: number; lastMs: number }> {
  await mkdir(path.join(local, 'burst'));
  await pause(DEBOUNCE * 3); // the folder's own event is flushed first, not part of the burst
  const closed = new Map<string, number>();
  const q = new PQueue({ concurrency: 16 });
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      q.add(async () => {
        const key = `burst/b${String(i).padStart(5, '0')}.txt`;
        await writeFile(path.join(local, key), `burst ${i}\n`.repeat(100));
        closed.set(key, Date.now());
      }),
    ),
  );
  const uploadedAt = () => new Map(logs().filter((l) => l.event === 'upload' && String(l.path).startsWith('burst/')).map((l) => [String(l.path), Date.parse(String(l.time))]));
  await waitFor('every burst upload', () => uploadedAt().size >= BURST, 600_000, 250);
  const keys = new Set(await listed(server, 'burst/'));
  const missing = [...closed.keys()].filter((k) => !keys.has(k));
  if (missing.length > 0) throw new Error(`${missing.length} objects missing after the uploads were logged, e.g. ${missing[0]}`);
  const seen = uploadedAt();
  const writeMs = Math.max(...closed.values()) - t0;
  // The last of several uploads of a path (a file flushed while still being written goes again).
  const latencies = [...closed].map(([k, c]) => (seen.get(k) ?? NaN) - c);
  return { latencies, writeMs, lastMs: Math.max(...seen.values()) - t0 };
}

/** The server's own floor for the same burst: plain SDK PUTs at the agent's concurrency. */
async function floor(server: S3Server): Promise<number> {
  const q = new PQueue({ concurrency: CONCURRENCY });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      q.add(() => server.client().send(new PutObjectCommand({ Bucket: BUCKET, Key: `floor/f${i}.txt`, Body: `floor ${i}\n`.repeat(100) }))),
    ),
  );
  return performance.now() - t0;
}

const server = await startS3Server({ buckets: [BUCKET] });
const tmp = await tmpDir('latency-');
const local = path.join(tmp.path, 'local');
await mkdir(local);
await writeConfig(tmp.path, {
  stateDir: '.state',
  concurrency: CONCURRENCY,
  pairs: [{ name: 'bench', local: './local', remote: { provider: 's3', bucket: BUCKET, endpoint: server.endpoint, region: 'us-east-1' }, debounceMs: DEBOUNCE, reconcileEverySec: 3600 }],
});
const daemon = startCli([], { cwd: tmp.path, env: testEnv(server.env) });
try {
  await waitFor('ready', () => parseLogs(daemon.output()).some((l) => l.event === 'ready'), 60_000);
  const single = await singles(server, local);
  const b = await burst(server, local, () => parseLogs(daemon.output()));
  const uploads = parseLogs(daemon.output()).filter((l) => l.event === 'upload' && String(l.path).startsWith('burst/'));
  const uploadMs = uploads.map((u) => Number(u.ms)).sort((x, y) => x - y);
  const floorMs = await floor(server);
  const stats = await server.stats();
  process.stdout.write(
    [
      `debounceMs ${DEBOUNCE}, concurrency ${CONCURRENCY}; targets: p50 <= ${DEBOUNCE + 100} ms, p99 <= ${DEBOUNCE + 500} ms`,
      '',
      '| case | files | p50 ms | p90 ms | p99 ms | max ms |',
      '|---|---|---|---|---|---|',
      summary('single writes, one at a time', single),
      summary(`burst of ${BURST}`, b.latencies),
      '',
      `burst: written in ${b.writeMs.toFixed(0)} ms, last object stored ${b.lastMs.toFixed(0)} ms after the first write;`,
      `one upload (HEAD check + PUT) took p50 ${pct(uploadMs, 50)} ms, p99 ${pct(uploadMs, 99)} ms;`,
      `the server alone takes ${floorMs.toFixed(0)} ms for ${BURST} plain SDK PUTs at concurrency ${CONCURRENCY}.`,
      `server counters for the whole run: ${JSON.stringify(stats)}`,
      '',
    ].join('\n'),
  );
} finally {
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.once('exit', r));
  await tmp.cleanup();
  await server.stop();
}
