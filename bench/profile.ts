// Where the agent's time goes: runs the real CLI under `node --cpu-prof` for a first upload and a
// no-op pass (and optionally a no-op at scale), then summarises each main-thread profile.
//   node --import tsx bench/profile.ts [--files 10000] [--big 3] [--big-mib 100] [--large 100000]
// Uses the same corpus folders as run.ts. Writes bench/out/prof-<time>/ (profiles) and .md.

import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { agentTool, floorRaw } from './contenders.js';
import { makeCorpus, type Corpus } from './corpus.js';
import { renderSummary, summariseFile } from './cpuprofile.js';
import { runPass, type Check, type PassName } from './pass.js';
import { benchEnv, type Target, type Tool } from './tool.js';

const MIB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values: a } = parseArgs({
  options: {
    files: { type: 'string', default: '10000' },
    big: { type: 'string', default: '3' },
    'big-mib': { type: 'string', default: '100' },
    large: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '16' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'out') },
  },
});

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join(a.out, `prof-${stamp}`);
const sections: string[] = [];
const env = benchEnv();

/** The main thread's profile: node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile. */
async function mainProfile(dir: string): Promise<string | undefined> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const main = files.find((f) => f.split('.')[4] === '0');
  if (main) return path.join(dir, main);
  const sized = await Promise.all(files.map(async (f) => ({ f, size: (await stat(path.join(dir, f))).size })));
  const biggest = sized.sort((x, y) => y.size - x.size)[0];
  return biggest ? path.join(dir, biggest.f) : undefined;
}

async function profiled(s: S3Server, target: Target, pass: PassName, title: string, check: Check, files: number): Promise<void> {
  const dir = path.join(outDir, pass);
  await mkdir(dir, { recursive: true });
  const tool = agentTool({ id: 'agent-prof', nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const r = await runPass({ server: s, tool, target, pass, rep: 0, check, files, env, logPrefix: path.join(dir, 'agent') });
  const line = `${title}: ${(r.ms / 1000).toFixed(2)} s wall under the profiler, ${r.server.requests} requests (${(r.server.requests / files).toFixed(2)} per file), ${r.server.puts} PUTs, CPU ${((r.cpuMs ?? 0) / 1000).toFixed(2)} s, peak RSS ${Math.round((r.peakRssKiB ?? 0) / 1024)} MiB${r.ok ? '' : `, FAILED: ${r.problem ?? ''}`}`;
  process.stdout.write(`${line}\n`);
  const file = await mainProfile(dir);
  sections.push(line, '', file ? renderSummary(title, await summariseFile(file)) : '(no profile written)', '');
}

async function session(corpus: Corpus, label: string, fill?: Tool): Promise<void> {
  const s = await startS3Server({ buckets: ['prof'] });
  try {
    const work = path.join(a.work, `prof-${label}`);
    // A manifest left by an earlier run names another server port: the agent would refuse it.
    await rm(work, { recursive: true, force: true });
    const target: Target = { endpoint: s.endpoint, bucket: 'prof', local: corpus.root, work, concurrency: Number(a.concurrency), env: s.env };
    const n = corpus.files.length;
    if (fill) {
      const r = await runPass({ server: s, tool: fill, target, pass: 'populate', rep: 0, check: { kind: 'mirror' }, files: n, env, logPrefix: path.join(a.work, `fill-${label}`) });
      if (!r.ok) throw new Error(`filling the bucket failed: ${r.problem ?? ''}`);
      await profiled(s, target, 'adopt', `${label}: first pass over a filled bucket (adopt)`, { kind: 'no-writes', mirror: false }, n);
    } else {
      await profiled(s, target, 'first', `${label}: first upload`, { kind: 'mirror' }, n);
    }
    await profiled(s, target, fill ? 'noop-large' : 'noop', `${label}: no-op pass`, { kind: 'no-writes', mirror: !fill }, n);
  } finally {
    await s.stop();
  }
}

const files = Number(a.files);
const corpus = await makeCorpus({ root: path.join(a.work, `corpus-${files}`), files, bigFiles: Number(a.big), bigSize: Number(a['big-mib']) * MIB });
await session(corpus, `${corpus.files.length} files`);
const large = Number(a.large);
if (large > 0) {
  const big = await makeCorpus({ root: path.join(a.work, `large-${large}`), files: large, bigFiles: 0, maxSize: 4096 });
  await session(big, `${large} files`, floorRaw);
}
await writeFile(`${outDir}.md`, sections.join('\n'));
process.stdout.write(`\n${sections.join('\n')}\nwritten: ${outDir}.md\n`);
