// The agent alone on three passes that show what the scan reads and how much memory a pass
// copies: a first upload of new files into an empty bucket, an adoption of a bucket that already
// holds the same files (filled by the server-limit client), then a no-op. Wall time, CPU, peak
// RSS (VmHWM) and the server's request and PUT counts per pass; the agent runs from source.
//
//   node --import tsx bench/deferred-hash.ts --files 5000 --reps 3
//   node --import tsx bench/deferred-hash.ts --files 100000 --max-size 4096 --reps 1 --passes adopt,noop
//   ... --cli bench/out/before/agent/cli.ts,bench/out/after/agent/cli.ts
//   (copies of two trees, each run on every pass in turn, first one first on odd repetitions; the
//   adopt/noop passes of every copy share one filled bucket, each with its own state)

import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { writeAgentConfig, floorRaw } from './contenders.js';
import { makeCorpus } from './corpus.js';
import { measure } from './measure.js';
import type { Target } from './tool.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = path.join(ROOT, 'agent', 'cli.ts');

const { values: a } = parseArgs({
  options: {
    files: { type: 'string', default: '5000' },
    'max-size': { type: 'string', default: '65536' },
    reps: { type: 'string', default: '3' },
    passes: { type: 'string', default: 'first,adopt,noop' },
    /** No-op passes per copy after each adoption (alternating the copies' order). */
    'noop-reps': { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    /** Comma list of agent/cli.ts copies to compare (trees copied under bench/out/). */
    cli: { type: 'string', default: CLI },
    /** Writes a CPU profile of each agent pass into this folder (see bench/cpuprofile.ts). */
    prof: { type: 'string' },
  },
});
const files = Number(a.files);
const passes = new Set(a.passes.split(','));
const concurrency = Number(a.concurrency);
/** Each CLI with a label: the name of the folder above its agent/ (\`main\` for this tree). */
const clis = a.cli.split(',').map((c) => ({ file: path.resolve(c), label: path.basename(path.dirname(path.dirname(path.resolve(c)))) }));
type Cli = (typeof clis)[number];

type Row = { cli: string; pass: string; rep: number; ms: number; cpuMs: number; rssMiB: number; requests: number; puts: number; code: number | null };
const rows: Row[] = [];

/** One agent pass (`--reconcile`, from source so that no stale build is measured). */
async function agentPass(s: S3Server, t: Target, cli: Cli, pass: string, rep: number): Promise<void> {
  const config = await writeAgentConfig(t);
  await s.resetStats();
  const m = await measure(
    { command: process.execPath, args: [...(a.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(a.prof, `${cli.label}-${pass}-r${rep}`)}`] : []), '--import', 'tsx', cli.file, '--reconcile', '--config', config], env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    { logPrefix: path.join(t.work, `${pass}-${rep}`), env: { ...process.env, ...s.env }, cwd: ROOT },
  );
  const st = await s.stats();
  const row = { cli: cli.label, pass, rep, ms: Math.round(m.ms), cpuMs: m.cpuMs ?? 0, rssMiB: Math.round((m.peakRssKiB ?? 0) / 1024), requests: st.requests, puts: st.puts, code: m.code };
  rows.push(row);
  console.log(`${pass.padEnd(6)} ${cli.label.padEnd(12)} r${rep} ${String(row.ms).padStart(7)} ms  cpu ${String(row.cpuMs).padStart(6)} ms  peak ${String(row.rssMiB).padStart(4)} MiB  ${row.requests} requests, ${row.puts} PUTs, exit ${String(m.code)}`);
  if (m.code !== 0) console.log(m.tail);
}

const corpus = await makeCorpus({ root: path.join(a.work, `deferred-${files}-${a['max-size']}`), files, bigFiles: 0, maxSize: Number(a['max-size']) });
console.log(`${files} files, ${(corpus.totalBytes / 2 ** 20).toFixed(1)} MiB; load ${os.loadavg()[0]?.toFixed(2) ?? '?'}`);
const s = await startS3Server({ buckets: [] });
try {
  for (let rep = 1; rep <= Number(a.reps); rep++) {
    const dir = path.join(a.work, `deferred-run-r${rep}`);
    await rm(dir, { recursive: true, force: true });
    const target = (bucket: string, work: string): Target => ({ endpoint: s.endpoint, bucket, local: corpus.root, work: path.join(dir, work), concurrency, env: s.env });
    const order = rep % 2 === 1 ? clis : [...clis].reverse();
    if (passes.has('first')) {
      for (const [i, cli] of order.entries()) {
        await s.createBucket(`first-r${rep}-${i}`);
        await agentPass(s, target(`first-r${rep}-${i}`, `first-${i}`), cli, 'first', rep);
      }
    }
    if (passes.has('adopt') || passes.has('noop')) {
      await s.createBucket(`adopt-r${rep}`);
      const fill = target(`adopt-r${rep}`, 'fill');
      await mkdir(fill.work, { recursive: true });
      const inv = await floorRaw.invocation(fill);
      const filled = await measure(inv, { logPrefix: path.join(fill.work, 'fill'), env: { ...process.env, ...s.env }, cwd: ROOT });
      if (filled.code !== 0) throw new Error(`filling the bucket failed: ${filled.tail}`);
      for (const [i, cli] of order.entries()) await agentPass(s, target(`adopt-r${rep}`, `agent-${i}`), cli, 'adopt', rep);
      for (let n = 0; passes.has('noop') && n < Number(a['noop-reps']); n++) {
        const turn = n % 2 === 0 ? [...order.entries()] : [...order.entries()].reverse();
        for (const [i, cli] of turn) await agentPass(s, target(`adopt-r${rep}`, `agent-${i}`), cli, 'noop', rep);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  await s.stop();
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)] ?? 0;
console.log(`\nmedians (load ${os.loadavg()[0]?.toFixed(2) ?? '?'} at the end)`);
for (const pass of ['first', 'adopt', 'noop']) {
  for (const cli of clis) {
    const r = rows.filter((x) => x.pass === pass && x.cli === cli.label);
    if (r.length === 0) continue;
    const m = (f: (x: Row) => number): number => median(r.map(f));
    console.log(`${pass.padEnd(6)} ${cli.label.padEnd(12)} ${m((x) => x.ms)} ms wall, ${m((x) => x.cpuMs)} ms cpu, ${m((x) => x.rssMiB)} MiB peak, ${m((x) => x.requests)} requests`);
  }
}
