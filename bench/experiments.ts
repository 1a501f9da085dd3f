// Evidence for the changes proposed in results.md: the same scenario run with one thing varied,
// interleaved over several repetitions on fresh servers. Not part of run.ts (these are not peers).
//   node --import tsx bench/experiments.ts head|multipart|startup|concurrency|listing|ab [--files 5000] [--mib 1024] [--reps 3] [--base dir]
//
// head        the floor with and without a HeadObject before each PUT (the agent's just-in-time check)
// multipart   one big file: the plain part loop at several part sizes, lib-storage, the agent's part loop, the agent
// startup     the agent as bin runs it (one bundle) vs per-file JavaScript, vs the bundle with source maps on
// concurrency the agent and the SDK floor at 8, 16 and 32 files in flight
// listing     no-op over one shared bucket: one paged listing vs one listing per top-level prefix
// ab          first upload and no-op: this checkout vs the built checkout at --base (a git worktree
//             of the commit to compare with, `npm ci && npm run build` in it), vs s3-sync-client

import { mkdir, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { formatMtime } from '../providers/provider.js';
import { createS3Client } from '../providers/s3-client.js';
import { uploadFileMultipart } from '../providers/s3-multipart.js';
import { startS3Server } from '../tests/helpers/s3-server.js';
import { agentTool, floorTool } from './contenders.js';
import { s3SyncClient } from './peers.js';
import { makeBigFile, makeCorpus } from './corpus.js';
import { runPass, type PassName, type PassResult } from './pass.js';
import { median } from './report.js';
import { benchEnv, type Tool } from './tool.js';

const MIB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    files: { type: 'string', default: '5000' },
    mib: { type: 'string', default: '1024' },
    reps: { type: 'string', default: '3' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    base: { type: 'string' },
  },
});

interface Variant {
  readonly label: string;
  readonly tool: Tool;
  /** Files in flight. @default 16 */
  readonly concurrency?: number;
}

interface Experiment {
  readonly local: string;
  readonly files: number;
  readonly variants: readonly Variant[];
  /** Passes run in order on each variant's bucket; a no-op needs the first upload before it. */
  readonly passes: readonly PassName[];
  /**
   * One server and one bucket for everything: filled once by the server-limit client, then every
   * variant syncs once untimed (the agent adopts it), then the timed no-ops. @default false
   */
  readonly shared?: boolean;
}

const sdk = (label: string, extra: string[] = []): Variant => ({ label, tool: floorTool('sdk', extra, 'floor-variant') });

async function smallCorpus(): Promise<{ local: string; files: number }> {
  const files = Number(a.files);
  const c = await makeCorpus({ root: path.join(a.work, `corpus-small-${files}`), files, bigFiles: 0 });
  return { local: c.root, files: c.files.length };
}

async function experiment(name: string): Promise<Experiment> {
  switch (name) {
    case 'head':
      return {
        ...(await smallCorpus()),
        passes: ['first'],
        variants: [
          sdk('SDK floor'),
          sdk('SDK floor + HEAD per file', ['--head-first']),
          { label: 'server limit', tool: floorTool('raw') },
          { label: 'server limit + HEAD per file', tool: floorTool('raw', ['--head-first'], 'raw-head') },
          { label: 'sync-agent', tool: agentTool() },
        ],
      };
    case 'multipart': {
      const src = path.join(a.work, `big-${Number(a.mib) * MIB}`, 'src');
      await makeBigFile(path.join(src, 'big.dat'), Number(a.mib) * MIB);
      const parts = (mib: number, q: number, lib = false): Variant =>
        sdk(`${lib ? 'lib-storage Upload' : 'SDK part loop'} ${mib} MiB × ${q}`, ['--part-size-mib', String(mib), '--queue', String(q), ...(lib ? ['--lib-storage'] : [])]);
      return {
        local: src,
        files: 1,
        passes: ['gib'],
        variants: [
          parts(16, 4),
          parts(16, 4, true),
          { label: 'part loop (uploadFileMultipart) 16 MiB × 4, md5 alongside', tool: partLoopTool },
          parts(8, 8),
          parts(32, 4),
          parts(64, 4),
          parts(64, 2),
          { label: 'sync-agent', tool: agentTool() },
        ],
      };
    }
    case 'startup': {
      // What the bin runs (dist/cli.js, one bundle: bin/build.js) against the same sources as
      // per-file JavaScript (what `npm run build` made until 2026-12-04, with tsc) and against
      // the bundle with its source maps read.
      const perFile = path.join(ROOT, 'bench', 'out', 'agent-per-file');
      await rm(perFile, { recursive: true, force: true });
      const sources = (await Promise.all(['agent', 'providers', 'state'].map(async (d) => (await readdir(path.join(ROOT, d))).filter((f) => f.endsWith('.ts')).map((f) => path.join(ROOT, d, f))))).flat();
      await build({ entryPoints: sources, outbase: ROOT, outdir: perFile, bundle: false, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
      const bundle = path.join(ROOT, 'dist', 'cli.js');
      return {
        ...(await smallCorpus()),
        passes: ['first', 'noop'],
        variants: [
          { label: 'bin/sync-agent.js (dist/cli.js bundle)', tool: agentTool() },
          { label: 'the bundle, --enable-source-maps', tool: agentTool({ id: 'agent-bundle-maps', entry: bundle, nodeArgs: ['--enable-source-maps'] }) },
          { label: 'per-file JavaScript', tool: agentTool({ id: 'agent-per-file', entry: path.join(perFile, 'agent', 'cli.js') }) },
          { label: 's3-sync-client', tool: s3SyncClient },
        ],
      };
    }
    case 'concurrency':
      return {
        ...(await smallCorpus()),
        passes: ['first'],
        variants: [8, 16, 32].flatMap((c) => [
          { label: `sync-agent at ${c}`, tool: agentTool(), concurrency: c },
          { label: `SDK floor at ${c}`, tool: floorTool('sdk'), concurrency: c },
        ]),
      };
    case 'listing':
      return {
        ...(await smallCorpus()),
        passes: ['noop'],
        shared: true,
        variants: [
          sdk('SDK floor, one listing'),
          sdk('SDK floor, parallel by prefix', ['--parallel-list']),
          { label: 'server limit, one listing', tool: floorTool('raw') },
          { label: 'server limit, parallel by prefix', tool: floorTool('raw', ['--parallel-list'], 'raw-parallel') },
          { label: 'sync-agent', tool: agentTool() },
        ],
      };
    case 'ab': {
      if (!a.base) throw new Error('ab needs --base <folder of a built checkout to compare with>');
      const baseBin = path.join(path.resolve(a.base), 'bin', 'sync-agent.js');
      return {
        ...(await smallCorpus()),
        passes: ['first', 'noop'],
        variants: [
          { label: 'sync-agent (this checkout)', tool: agentTool() },
          { label: `sync-agent at ${path.basename(path.resolve(a.base))}`, tool: agentTool({ id: 'agent-base', entry: baseBin }) },
          { label: 's3-sync-client', tool: s3SyncClient },
        ],
      };
    }
    default:
      throw new Error(`unknown experiment "${name}": head, multipart, startup, concurrency, listing or ab`);
  }
}

/**
 * The agent's multipart upload alone (providers/s3-multipart.ts `uploadFileMultipart`, md5
 * included), run as its own process like every variant: this script with PART_LOOP and
 * `<endpoint> <bucket> <local>` uploads each file of the folder, 16 MiB × 4 as the agent.
 */
const PART_LOOP = 'part-loop-upload';
const partLoopTool: Tool = {
  id: 'part-loop',
  label: 'part loop (uploadFileMultipart)',
  role: 'agent',
  detect: async () => ({ ok: true, version: 'providers/s3-multipart.ts' }),
  invocation: async (t) => ({ command: process.execPath, args: ['--import', 'tsx', fileURLToPath(import.meta.url), PART_LOOP, t.endpoint, t.bucket, t.local] }),
};

async function partLoopUpload(endpoint: string, bucket: string, local: string): Promise<void> {
  const client = createS3Client({ endpoint });
  try {
    for (const name of await readdir(local)) {
      const file = await open(path.join(local, name), 'r');
      try {
        const st = await file.stat();
        const put = await uploadFileMultipart(client, { Bucket: bucket, Key: name, Metadata: { mtime: formatMtime(st.mtimeMs) } }, file, st.size, { partSize: 16 * MIB, queueSize: 4 });
        process.stdout.write(`${name}: ${st.size} bytes, etag ${put.etag}, md5 ${put.md5}\n`);
      } finally {
        await file.close();
      }
    }
  } finally {
    client.destroy();
  }
}

type Results = Map<string, PassResult[]>;

function say(v: Variant, r: PassResult): void {
  process.stdout.write(`${r.pass} ${v.label}: ${r.ms} ms, cpu ${r.cpuMs ?? '?'} ms, ${r.server.requests} requests, peak ${Math.round((r.peakRssKiB ?? 0) / 1024)} MiB${r.ok ? '' : ` FAILED ${r.problem ?? ''}`}\n`);
}

/** The shared-bucket form (see Experiment.shared). */
async function shared(name: string, x: Experiment, reps: number, results: Results): Promise<void> {
  const s = await startS3Server({ buckets: ['shared'] });
  try {
    const base = path.join(a.work, `exp-${name}`);
    await mkdir(base, { recursive: true });
    const target = (v: Variant, i: number) => ({ endpoint: s.endpoint, bucket: 'shared', local: x.local, work: path.join(base, String(i)), concurrency: v.concurrency ?? 16, env: s.env });
    const fill = await runPass({ server: s, tool: floorTool('raw'), target: target(x.variants[0] as Variant, -1), pass: 'populate', rep: 0, check: { kind: 'mirror' }, files: x.files, env: benchEnv(), logPrefix: path.join(base, 'fill') });
    if (!fill.ok) throw new Error(`filling the bucket failed: ${fill.problem ?? ''}`);
    for (const [i, v] of x.variants.entries()) {
      await mkdir(target(v, i).work, { recursive: true });
      say(v, await runPass({ server: s, tool: v.tool, target: target(v, i), pass: 'adopt', rep: 0, check: { kind: 'no-writes', mirror: false }, files: x.files, env: benchEnv(), logPrefix: path.join(base, `${i}-warm`) }));
    }
    for (let rep = 1; rep <= reps; rep++) {
      for (const [k] of x.variants.entries()) {
        const i = (k + rep) % x.variants.length;
        const v = x.variants[i] as Variant;
        for (const pass of x.passes) {
          const r = await runPass({ server: s, tool: v.tool, target: target(v, i), pass, rep, check: { kind: 'no-writes', mirror: false }, files: x.files, env: benchEnv(), logPrefix: path.join(base, `${i}-${pass}-${rep}`) });
          results.set(`${pass}\u0000${v.label}`, [...(results.get(`${pass}\u0000${v.label}`) ?? []), r]);
          say(v, r);
        }
      }
    }
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  const name = positionals[0] ?? '';
  if (name === PART_LOOP) {
    const [endpoint, bucket, local] = positionals.slice(1);
    if (!endpoint || !bucket || !local) throw new Error(`usage: experiments.ts ${PART_LOOP} <endpoint> <bucket> <local folder>`);
    return partLoopUpload(endpoint, bucket, local);
  }
  const x = await experiment(name);
  const reps = Number(a.reps);
  const results: Results = new Map();
  await rm(path.join(a.work, `exp-${name}`), { recursive: true, force: true });
  if (x.shared) await shared(name, x, reps, results);
  else for (let rep = 1; rep <= reps; rep++) {
    const s = await startS3Server({ buckets: [] });
    try {
      const order = x.variants.map((_, i) => x.variants[(i + rep) % x.variants.length] as Variant);
      for (const [i, v] of order.entries()) {
        const bucket = `x${rep}-${i}-${x.variants.indexOf(v)}`;
        await s.createBucket(bucket);
        const work = path.join(a.work, `exp-${name}`, bucket);
        await mkdir(work, { recursive: true });
        const target = { endpoint: s.endpoint, bucket, local: x.local, work, concurrency: v.concurrency ?? 16, env: s.env };
        for (const pass of x.passes) {
          const r = await runPass({ server: s, tool: v.tool, target, pass, rep, check: { kind: pass === 'noop' ? 'no-writes' : 'mirror', mirror: true }, files: x.files, env: benchEnv(), logPrefix: path.join(work, pass) });
          const key = `${pass}\u0000${v.label}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          say(v, r);
        }
      }
    } finally {
      await s.stop();
    }
  }
  await rm(path.join(a.work, `exp-${name}`), { recursive: true, force: true });
  const lines = [`| ${name}: pass · variant | median s | CPU s | requests/file | peak RSS MiB | runs |`, '|---|---|---|---|---|---|'];
  for (const [key, rs] of results) {
    const ok = rs.filter((r) => r.ok);
    const m = (f: (r: PassResult) => number | undefined): number => median(ok.flatMap((r) => (f(r) === undefined ? [] : [f(r) as number]))) ?? NaN;
    lines.push(
      `| ${key.replace('\u0000', ' · ')} | ${(m((r) => r.ms) / 1000).toFixed(2)} | ${(m((r) => r.cpuMs) / 1000).toFixed(2)} | ${(m((r) => r.server.requests) / x.files).toFixed(2)} | ${Math.round(m((r) => r.peakRssKiB) / 1024)} | ${ok.length}/${rs.length} |`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n(load average now ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
}

await main();
