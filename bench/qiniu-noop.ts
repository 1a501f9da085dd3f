// Benchmark: a no-op `sync-agent --reconcile` pass over 5,000 already-synced files, through the
// real CLI, against the local Kodo emulator (real qiniu SDK, signatures checked) and, in the same
// run, against the real S3 server (s3rver) with the same files. Runs alternate between the two
// remotes so that load from other work on the machine falls on both alike.
// Also times each provider's paged listing alone (in process), the remote half of the pass.
// Run by hand: node --import tsx bench/qiniu-noop.ts [files] [runs]; results in qiniu-noop.md.

import { execFileSync, spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RemoteConfig } from '../agent/config.js';
import { createProvider } from '../providers/registry.js';
import { BIN, parseLogs, writeConfig } from '../tests/helpers/cli.js';
import { startQiniuEmulator, type QiniuEmulator } from '../tests/helpers/qiniu-emulator.js';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { tmpDir, writeFiles } from '../tests/helpers/tmp.js';

// The SDK's notice that its 2027 releases need Node 22 is noise here (bin/sync-agent.js does the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const FILES = Number(process.argv[2] ?? 5000);
const RUNS = Number(process.argv[3] ?? 5);
const KEYS = { accessKey: 'bench-ak', secretKey: 'bench-sk' };
const NOOP = 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0';

/** One timed CLI run: wall time from spawn to exit (as cron sees it) and the agent's CPU time. */
interface Timed {
  readonly ms: number;
  /** User + system CPU of the agent process: its own work, much less swayed by other load. */
  readonly cpuMs: number;
  readonly summary: string;
}

/** GNU time reports the child's CPU; without it, CPU is reported as NaN. */
const GNU_TIME = '/usr/bin/time';
const hasGnuTime = await access(GNU_TIME).then(() => true, () => false);

async function cli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Timed> {
  const cpuFile = path.join(os.tmpdir(), `sync-agent-bench-cpu-${process.pid}`);
  const argv = [BIN, ...args];
  const [cmd, cmdArgs] = hasGnuTime ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...argv]] : [process.execPath, argv];
  const start = performance.now();
  const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    child.stdout.on('data', (d: Buffer) => (o += d.toString()));
    child.stderr.on('data', (d: Buffer) => (e += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, out: o, err: e }));
  });
  const ms = performance.now() - start;
  if (code !== 0) throw new Error(`sync-agent ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`);
  const [user = NaN, sys = NaN] = hasGnuTime ? (await readFile(cpuFile, 'utf8')).trim().split(/\s+/).map(Number) : [];
  const summary = String(parseLogs(out).find((l) => l.event === 'summary')?.msg ?? '');
  return { ms, cpuMs: (user + sys) * 1000, summary };
}

/** A folder with FILES files shaped like a real tree: 50 folders, spaces and unicode in names. */
async function makeTree(root: string): Promise<void> {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[`dir ${i % 50}/file-ü-${String(i).padStart(5, '0')}.txt`] = `content ${i}\n`;
  await writeFiles(root, files);
}

interface Contender {
  readonly name: 'qiniu' | 's3';
  readonly dir: string;
  readonly remote: RemoteConfig;
  /** The CLI's environment: the machine's, plus the remote's credentials. */
  readonly env: NodeJS.ProcessEnv;
  /** Requests the remote has served so far. */
  requests(): Promise<number>;
  /** Wall times of the no-op passes, and requests each one made. */
  readonly passes: { ms: number; cpuMs: number; requests: number }[];
  cleanup(): Promise<void>;
}

async function contender(name: Contender['name'], remote: RemoteConfig, env: Readonly<Record<string, string>>, requests: () => Promise<number>): Promise<Contender> {
  const tmp = await tmpDir(`sync-agent-bench-${name}-`);
  await makeTree(path.join(tmp.path, 'local'));
  await writeConfig(tmp.path, {
    stateDir: '.state',
    concurrency: 8,
    pairs: [{ name: 'bench', local: './local', remote, direction: 'both', deletes: 'propagate' }],
  });
  const fullEnv = { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', ...env };
  return { name, dir: tmp.path, remote, env: fullEnv, requests, passes: [], cleanup: tmp.cleanup };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** A provider's paged listing alone, in process: no CLI start-up, no local scan, no planning. */
async function listOnly(remote: RemoteConfig, env: NodeJS.ProcessEnv): Promise<number[]> {
  const provider = await createProvider(remote, env);
  const times: number[] = [];
  for (let run = 0; run < RUNS + 1; run++) {
    const start = performance.now();
    let listed = 0;
    for await (const page of provider.list()) listed += page.length;
    times.push(performance.now() - start);
    if (listed !== FILES) throw new Error(`${remote.provider}: listed ${listed} objects, expected ${FILES}`);
  }
  await provider.close?.();
  return times.slice(1); // the first run warms up the SDK and JIT
}

let emu: QiniuEmulator | undefined;
let s3: S3Server | undefined;
const contenders: Contender[] = [];
try {
  const e = (emu = await startQiniuEmulator({ ...KEYS, buckets: ['bench'] }));
  const s = (s3 = await startS3Server({ buckets: ['bench'] }));
  contenders.push(
    await contender(
      'qiniu',
      { provider: 'qiniu', bucket: 'bench', prefix: 'sync', domain: e.downloadUrl, hosts: e.hosts },
      { QINIU_ACCESS_KEY: KEYS.accessKey, QINIU_SECRET_KEY: KEYS.secretKey },
      async () => e.stats().total,
    ),
    await contender('s3', { provider: 's3', bucket: 'bench', prefix: 'sync', endpoint: s.endpoint, region: 'us-east-1' }, s.env, async () => (await s.stats()).requests),
  );

  console.log(`setting up: the first pass uploads ${FILES} files to each remote`);
  for (const c of contenders) {
    const first = await cli(['--reconcile'], c.dir, c.env);
    if (first.summary !== `uploaded ${FILES}, downloaded 0, deleted 0, conflicts 0, failed 0`) throw new Error(`${c.name} first pass: ${first.summary}`);
    console.log(`  ${c.name}: ${fmt(first.ms)} (${first.summary})`);
  }

  const startup: Timed[] = [];
  for (let run = 0; run < RUNS; run++) {
    startup.push(await cli(['--help'], process.cwd(), process.env));
    for (const c of run % 2 === 0 ? contenders : [...contenders].reverse()) {
      const before = await c.requests();
      const pass = await cli(['--reconcile'], c.dir, c.env);
      if (pass.summary !== NOOP) throw new Error(`${c.name} pass ${run + 1} was not a no-op: ${pass.summary}`);
      c.passes.push({ ms: pass.ms, cpuMs: pass.cpuMs, requests: (await c.requests()) - before });
    }
    console.log(`  run ${run + 1}: ${contenders.map((c) => `${c.name} ${fmt(c.passes.at(-1)?.ms ?? NaN)}`).join(', ')}, --help ${fmt(startup.at(-1)?.ms ?? NaN)}`);
  }

  const floor = median(startup.map((r) => r.ms));
  console.log(`\nmachine: ${execFileSync('nproc').toString().trim()} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${new Date().toISOString()}`);
  console.log(`no-op --reconcile over ${FILES} synced files, median of ${RUNS} CLI runs (wall time, spawn to exit):`);
  const medians: number[] = [];
  for (const c of contenders) {
    const m = median(c.passes.map((p) => p.ms));
    medians.push(m);
    const all = c.passes.map((p) => fmt(p.ms)).join(', ');
    const cpu = median(c.passes.map((p) => p.cpuMs));
    console.log(`  ${c.name.padEnd(5)} ${fmt(m)}  [${all}]; minus start-up ${fmt(m - floor)}; agent CPU ${fmt(cpu)}; requests per pass ${c.passes.map((p) => p.requests).join('/')}`);
  }
  console.log(`  ratio qiniu / s3: ${((medians[0] ?? NaN) / (medians[1] ?? NaN)).toFixed(2)}`);
  console.log(`  CLI start-up floor (sync-agent --help): median ${fmt(floor)}, CPU ${fmt(median(startup.map((r) => r.cpuMs)))}`);
  // The S3 provider takes credentials from the AWS chain, which reads this process's environment.
  Object.assign(process.env, s.env);
  for (const c of contenders) {
    const list = await listOnly(c.remote, c.env);
    console.log(`  ${c.name} listing alone (provider in process): median ${median(list).toFixed(0)} ms [${list.map((v) => v.toFixed(0)).join(', ')}]`);
  }
} finally {
  for (const c of contenders) await c.cleanup();
  await rm(path.join(os.tmpdir(), `sync-agent-bench-cpu-${process.pid}`), { force: true });
  await emu?.stop();
  await s3?.stop();
}
