// The daemon at scale (issue 6): RSS of `sync-agent` (the daemon, not --reconcile) watching
// 100,000 files, idle, during a burst of 1,000 edits and idle again; how many times it writes the
// manifest; and how long one manifest write takes at that size. Run by hand, not in CI:
//   node --import tsx bench/daemon.ts [--files 100000] [--edits 1000] [--work DIR]
// The corpus, the filled bucket and the adopted manifest are built once under --work and reused
// (the first run takes ~10 minutes more). Writes the generated section of bench/daemon.md and
// bench/out/daemon-<time>.json (every sample).

import { link, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { forEachLimit, keystream, smallContent } from './corpus.js';
import { DaemonProc, runNode, statusSettled } from './daemon-proc.js';
import { machineInfo, renderDaemonRun, spliceGenerated, summarisePhase, type DaemonRun, type PhaseResult } from './daemon-report.js';
import { MemSampler, WriteCounter } from './daemon-sampler.js';
import { BUCKET, PAIR, prepareWorld, type World } from './daemon-world.js';
import type { WriteTiming } from './daemon-write.js';
import { benchEnv } from './tool.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
// The SDK's Node 22 notice, printed by the bench's own checking client: noise in the output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values: a } = parseArgs({
  options: {
    /** Small files in the corpus. */
    files: { type: 'string', default: '100000' },
    /** Files changed in the burst (then restored in a second burst). */
    edits: { type: 'string', default: '1000' },
    /** Seconds of each idle phase. */
    'idle-sec': { type: 'string', default: '30' },
    /** RSS sampling period. */
    'sample-ms': { type: 'string', default: '250' },
    /** Saves timed by bench/daemon-write.ts (the median is reported). */
    'write-reps': { type: 'string', default: '5' },
    /** The pair's reconcileEverySec: long, so no periodic pass lands inside a phase. */
    'reconcile-every': { type: 'string', default: '3600' },
    /** Extra node flags for the daemon, space-separated, given as --node-args="--flag ..." (the = is needed). */
    'node-args': { type: 'string', default: '' },
    /** Send SIGUSR2 to the daemon at the end of each idle phase (with --heapsnapshot-signal). */
    snapshot: { type: 'boolean', default: false },
    /** Load a probe into the daemon that prints process.memoryUsage() every second (see daemon-proc.ts). */
    probe: { type: 'boolean', default: false },
    /** `default`: the real CLI (its watcher's default back end); `chokidar`: the daemon on the chokidar back end (bench/daemon-chokidar.ts). */
    watcher: { type: 'string', default: 'default' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    /** The report whose generated section is replaced. */
    report: { type: 'string', default: path.join(ROOT, 'bench', 'daemon.md') },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'out') },
    /** Only render the report from a saved run's JSON (no daemon run). */
    render: { type: 'string' },
  },
});

const settings = {
  files: Number(a.files),
  edits: Number(a.edits),
  idleSec: Number(a['idle-sec']),
  sampleMs: Number(a['sample-ms']),
  writeReps: Number(a['write-reps']),
  reconcileEverySec: Number(a['reconcile-every']),
  nodeArgs: a['node-args'].split(' ').filter(Boolean),
  probe: a.probe,
  watcher: a.watcher,
};
if (settings.watcher !== 'default' && settings.watcher !== 'chokidar') throw new Error('--watcher is default or chokidar');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Generous: the machine is shared, a 100,000-file pass takes minutes under load. */
const LONG_MS = 30 * 60_000;
/** Bytes an edit adds to a file: the new size tells the edited object from the original. */
const GROWN = 17;

/** The edited files: spread evenly over the corpus, so over as many folders as there are edits. */
function pickEdits(w: World, n: number): { path: string; index: number; size: number }[] {
  const step = Math.max(1, Math.floor(w.corpus.files.length / n));
  return Array.from({ length: Math.min(n, w.corpus.files.length) }, (_, k) => {
    const index = k * step;
    const f = w.corpus.files[index] as { path: string; size: number };
    return { path: f.path, index, size: f.size };
  });
}

/** Renders the report again from a saved run (`--render bench/out/daemon-<time>.json`). */
async function render(file: string): Promise<void> {
  const record = JSON.parse(await readFile(file, 'utf8')) as DaemonRun;
  const old = await readFile(a.report, 'utf8').catch(() => '');
  await writeFile(a.report, spliceGenerated(old, renderDaemonRun(record)));
  say(`written: ${a.report} (generated section) from ${file}`);
}

async function main(): Promise<void> {
  if (a.render !== undefined) return render(a.render);
  const startedAt = new Date();
  const machine = machineInfo(ROOT);
  const env = benchEnv();
  const world = await prepareWorld({ work: a.work, files: settings.files, env, say });
  const { server } = world;
  try {
    const config = path.join(world.agentDir, 'daemon.config.json');
    await writeFile(
      config,
      JSON.stringify({
        stateDir: world.stateDir,
        pairs: [
          {
            name: PAIR,
            local: world.local,
            remote: { provider: 's3', bucket: BUCKET, endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1' },
            reconcileEverySec: settings.reconcileEverySec,
          },
        ],
      }, null, 2),
    );
    const run = await runDaemon(world, config, { ...env, ...server.env, SYNC_AGENT_LOG_LEVEL: 'debug' });
    say('timing manifest writes (bench/daemon-write.ts)');
    const manifest = path.join(world.stateDir, `${PAIR}.manifest.json`);
    const out = await runNode([path.join(ROOT, 'bench', 'daemon-write.ts'), manifest, '--reps', String(settings.writeReps)], env);
    const write = JSON.parse(out.trim().split('\n').pop() ?? '{}') as WriteTiming;
    const record: DaemonRun = {
      machine: { ...machine, 'load average at end': os.loadavg().map((x) => x.toFixed(2)).join(' ') },
      settings,
      startedAt: startedAt.toISOString(),
      minutes: (Date.now() - startedAt.getTime()) / 60_000,
      setup: world.setup,
      ...run,
      write,
    };
    await mkdir(a.out, { recursive: true });
    const stem = path.join(a.out, `daemon-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
    await writeFile(`${stem}.json`, JSON.stringify(record));
    const md = renderDaemonRun(record);
    const old = await readFile(a.report, 'utf8').catch(() => '');
    await writeFile(a.report, spliceGenerated(old, md));
    say(`\n${md}\nwritten: ${a.report} (generated section), ${stem}.json`);
  } finally {
    await server.stop();
  }
}

async function runDaemon(w: World, config: string, env: NodeJS.ProcessEnv): Promise<Omit<DaemonRun, 'machine' | 'settings' | 'startedAt' | 'minutes' | 'setup' | 'write'>> {
  let phase = 'start';
  const d = new DaemonProc({ config, env, logFile: path.join(w.agentDir, 'daemon.log'), nodeArgs: settings.nodeArgs, probe: settings.probe, phase: () => phase,
    ...(settings.watcher === 'chokidar' ? { entry: ['--import', 'tsx', path.join(ROOT, 'bench', 'daemon-chokidar.ts')] } : {}),
  });
  const sampler = new MemSampler({ pid: d.pid, everyMs: settings.sampleMs });
  const writes = new WriteCounter(w.stateDir, `${PAIR}.manifest.json`, () => phase);
  const phases: PhaseResult[] = [];
  let phaseStart = Date.now();
  const enter = (name: string): void => {
    phases.push(summarisePhase(phase, Date.now() - phaseStart, sampler.samples, writes, d));
    phase = name;
    sampler.phase = name;
    phaseStart = Date.now();
    say(`phase ${name}`);
  };
  const edits = pickEdits(w, settings.edits);
  let burst: DaemonRun['burst'] | undefined;
  let restore: DaemonRun['restore'] | undefined;
  let failure: unknown;
  try {
    say(`daemon pid ${d.pid}: waiting for ready (a full pass over ${settings.files} files)`);
    await d.waitUntil('the ready line', () => d.events('ready').length > 0, LONG_MS);
    enter('idle');
    await idle(d);
    enter('burst');
    const pool = keystream(w.corpus.options.seed, 'pool/daemon-edit', 1024 * 1024);
    burst = await editBurst(d, w, edits, 'burst', async (e, abs, tmp) => {
      await writeFile(tmp, smallContent(pool, w.corpus.options.seed, e.index, e.size + GROWN, 'daemon-edit'));
      await rename(tmp, abs);
    });
    burst = { ...burst, problem: await checkSizes(w, edits, GROWN) };
    enter('after');
    await idle(d);
    enter('restore');
    // The corpus's own inode back under the name: the next run's hard-link copy matches again.
    restore = await editBurst(d, w, edits, 'restore', async (e, abs, tmp) => {
      await link(path.join(w.corpus.root, e.path), tmp);
      await rename(tmp, abs);
    });
    restore = { ...restore, problem: await checkSizes(w, edits, 0) };
    enter('stop');
  } catch (e) {
    failure = e;
  }
  const exit = await d.stop();
  enter('done');
  await sampler.stop();
  writes.close();
  if (failure !== undefined || burst === undefined || restore === undefined) {
    say(`daemon output tail:\n${d.tail()}`);
    throw failure ?? new Error('the run did not finish');
  }
  return { phases, burst, restore, exit, samples: sampler.samples, ...(settings.probe ? { probe: d.mem } : {}) };
}

/** An idle phase; with --snapshot, a heap snapshot (SIGUSR2) at its end. */
async function idle(d: DaemonProc): Promise<void> {
  await sleep(settings.idleSec * 1000);
  if (a.snapshot) d.child.kill('SIGUSR2');
}

/** Applies `edit` to every file as fast as it can, then waits until each was uploaded and status settles. */
async function editBurst(
  d: DaemonProc,
  w: World,
  edits: readonly { path: string; index: number; size: number }[],
  phase: string,
  edit: (e: { path: string; index: number; size: number }, abs: string, tmp: string) => Promise<void>,
): Promise<DaemonRun['burst']> {
  const started = Date.now();
  await w.server.resetStats();
  await forEachLimit(edits, 8, (e, i) => edit(e, path.join(w.local, e.path), path.join(w.scratch, `edit-${i}`)));
  const editedMs = Date.now() - started;
  const want = new Set(edits.map((e) => e.path));
  await d.waitUntil(`${edits.length} uploads`, () => d.events('upload', phase).filter((l) => want.has(String(l.path))).length >= want.size, LONG_MS);
  await d.waitUntil('the status to settle', () => statusSettled(w.stateDir, PAIR, started), LONG_MS);
  const stats = await w.server.stats();
  return { edits: edits.length, editMs: editedMs, settledMs: Date.now() - started, puts: stats.puts, requests: stats.requests };
}

/** undefined when every edited object has its expected size (corpus size + `grown`). */
async function checkSizes(w: World, edits: readonly { path: string; size: number }[], grown: number): Promise<string | undefined> {
  const wrong: string[] = [];
  const s3 = w.server.client();
  await forEachLimit(edits, 8, async (e) => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: e.path }));
    if (head.ContentLength !== e.size + grown) wrong.push(e.path);
  });
  return wrong.length === 0 ? undefined : `${wrong.length} objects with the wrong size (${wrong.slice(0, 3).join(', ')})`;
}

await main();
