// Where the agent's incremental pass goes: one or more agent builds side by side over the chain's
// passes (first upload, no-op, then 1% changed + 1% added + 1% deleted), each behind a counting
// proxy, so every pass reports its requests by kind and status, its wall and CPU time; with
// --prof, a CPU profile summary of the no-op and the incremental pass (their difference is what
// the changes cost). Builds run interleaved per repetition, in an order rotated per repetition.
//   node --import tsx bench/incremental.ts [--files 5000] [--reps 3] [--deletes propagate|trash]
//     [--agents base=/work/wt/bin/sync-agent.js,new=bin/sync-agent.js] [--prof]

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startS3Server } from '../tests/helpers/s3-server.js';
import { agentTool } from './contenders.js';
import { makeCorpus } from './corpus.js';
import { renderSummary, summariseFile } from './cpuprofile.js';
import { linkCopy, mutate } from './mutate.js';
import { runPass, type Check, type PassName } from './pass.js';
import { renderKinds, startCountingProxy, type KindCounts } from './request-kinds.js';
import { benchEnv, type Target, type Tool } from './tool.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values: a } = parseArgs({
  options: {
    files: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '3' },
    deletes: { type: 'string', default: 'propagate' },
    agents: { type: 'string', default: `agent=${path.join(ROOT, 'bin', 'sync-agent.js')}` },
    prof: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '16' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'out') },
  },
});
if (a.deletes !== 'propagate' && a.deletes !== 'trash' && a.deletes !== 'keep') throw new Error('--deletes: propagate, trash or keep');
const deletes = a.deletes;

interface Row {
  readonly agent: string;
  readonly rep: number;
  readonly pass: PassName;
  readonly ms: number;
  readonly cpuMs: number;
  readonly requests: number;
  readonly kinds: KindCounts;
  readonly ok: boolean;
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join(a.out, `incremental-${stamp}`);
const env = benchEnv();
const agents = a.agents.split(',').map((spec) => {
  const [label, entry] = spec.split('=');
  if (!label || !entry) throw new Error(`--agents: label=path/to/bin/sync-agent.js, got ${spec}`);
  return { label, entry: path.resolve(entry) };
});
const files = Number(a.files);
const corpus = await makeCorpus({ root: path.join(a.work, `corpus-${files}`), files, bigFiles: 0 });
const rows: Row[] = [];
const sections: string[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

for (let rep = 0; rep < Number(a.reps); rep++) {
  const server = await startS3Server({ buckets: [] });
  const proxy = await startCountingProxy(server.endpoint);
  try {
    const order = agents.map((_, i) => agents[(i + rep) % agents.length] as (typeof agents)[number]);
    const slots: { ag: (typeof agents)[number]; dir: string; target: Target }[] = [];
    for (const ag of order) {
      const dir = path.join(a.work, `incr-r${rep}`, ag.label);
      await rm(dir, { recursive: true, force: true });
      await linkCopy(corpus.root, path.join(dir, 'local'));
      const bucket = `${ag.label.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-r${rep}`;
      await server.createBucket(bucket);
      const target: Target = { endpoint: proxy.endpoint, bucket, local: path.join(dir, 'local'), work: path.join(dir, 'work'), concurrency: Number(a.concurrency), env: server.env };
      slots.push({ ag, dir, target });
    }
    const pass = async (slot: (typeof slots)[number], name: PassName, check: Check, n: number): Promise<void> => {
      const prof = a.prof && name !== 'first' ? path.join(outDir, `${slot.ag.label}-r${rep}-${name}`) : undefined;
      if (prof) await mkdir(prof, { recursive: true });
      const tool: Tool = agentTool({ id: slot.ag.label, entry: slot.ag.entry, deletes, nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [] });
      proxy.take();
      const r = await runPass({ server, tool, target: slot.target, pass: name, rep, check, files: n, env, logPrefix: path.join(slot.dir, `${name}`) });
      const kinds = proxy.take();
      rows.push({ agent: slot.ag.label, rep, pass: name, ms: r.ms, cpuMs: r.cpuMs ?? 0, requests: r.server.requests, kinds, ok: r.ok });
      say(`r${rep} ${name.padEnd(11)} ${slot.ag.label.padEnd(8)} ${String(r.ms).padStart(6)} ms  cpu ${String(r.cpuMs ?? 0).padStart(5)} ms  ${r.server.requests} requests (${renderKinds(kinds)}), load ${r.load1}${r.ok ? '' : `  FAILED: ${r.problem ?? ''}`}`);
      if (prof) {
        const main = (await readdir(prof)).filter((f) => f.endsWith('.cpuprofile')).find((f) => f.split('.')[4] === '0');
        if (main) sections.push(renderSummary(`${slot.ag.label} r${rep} ${name}`, await summariseFile(path.join(prof, main), 25)));
      }
    };
    const n = corpus.files.length;
    for (const slot of slots) await pass(slot, 'first', { kind: 'mirror' }, n);
    for (const slot of slots) await pass(slot, 'noop', { kind: 'no-writes', mirror: true }, n);
    let after = n;
    for (const slot of slots) {
      const m = await mutate(corpus, slot.target.local, `r${rep}`);
      after = n + m.added.length - m.deleted.length;
    }
    for (const slot of slots) await pass(slot, 'incremental', { kind: 'mirror' }, after);
    for (const slot of slots) await rm(slot.dir, { recursive: true, force: true });
  } finally {
    await proxy.close();
    await server.stop();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const table = ['| agent | pass | wall ms (median) | CPU ms (median) | requests (median) | runs ok |', '|---|---|---|---|---|---|'];
for (const ag of agents) {
  for (const p of ['first', 'noop', 'incremental'] as const) {
    const mine = rows.filter((r) => r.agent === ag.label && r.pass === p);
    table.push(`| ${ag.label} | ${p} | ${median(mine.map((r) => r.ms))} | ${median(mine.map((r) => r.cpuMs))} | ${median(mine.map((r) => r.requests))} | ${mine.filter((r) => r.ok).length}/${mine.length} |`);
  }
}
const report = [`deletes: ${deletes}, ${files} files, ${a.reps} reps, agents: ${agents.map((x) => `${x.label}=${x.entry}`).join(', ')}`, '', ...table, '', ...sections].join('\n');
await mkdir(a.out, { recursive: true });
await writeFile(`${outDir}.md`, report);
await writeFile(`${outDir}.json`, JSON.stringify(rows, null, 2));
say(`\n${report}\nwritten: ${outDir}.md`);
