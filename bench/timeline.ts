// Where a no-op's wall time goes, per contender: the time before its first request, the listing
// (first request to last response), and the tail after the last response until the process exits.
// Fills one bucket with the large corpus, lets the agent adopt it, then runs each contender's
// no-op over it in an order rotated per repetition, every process under bench/http-timeline.mjs.
//   node --import tsx bench/timeline.ts [--files 100000] [--reps 4] [--base ../wt-base] [--latency-ms 0] [--node-args=--flag,…]
// --base: a built worktree of another commit, run as a second agent (its manifest is its own).
// --node-args: also run this checkout's agent under these node options, comma-separated (one more contender).
// --latency-ms: the contenders reach the server through a proxy that holds each request this long
// before relaying it, as a remote store's round trip would (the bucket is filled directly).

import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultProxy, type Fault, type FaultProxy } from '../tests/helpers/fault-proxy.js';
import { startS3Server } from '../tests/helpers/s3-server.js';
import { agentTool, floorRaw } from './contenders.js';
import { makeCorpus } from './corpus.js';
import { runPass, type PassResult } from './pass.js';
import { s3SyncClient } from './peers.js';
import { median } from './report.js';
import { benchEnv, type Target, type Tool } from './tool.js';

const PRELOAD = fileURLToPath(new URL('./http-timeline.mjs', import.meta.url));
const { values: a } = parseArgs({
  options: {
    files: { type: 'string', default: '100000' },
    reps: { type: 'string', default: '4' },
    base: { type: 'string' },
    'latency-ms': { type: 'string', default: '0' },
    'node-args': { type: 'string' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'sync-agent-bench') },
  },
});

type Event = [kind: 'req' | 'res' | 'end' | 'exit', id: number, ms: number];
interface Timeline {
  firstRequest: number;
  lastResponse: number;
  exit: number;
  requests: number;
  /** From the first request to the eleventh: the pages listed while the walk and the manifest load run. */
  firstTen: number;
  /** Summed over pages: from a page's last byte to the next page's request (the client's own time). */
  between: number;
}

function summarise(events: readonly Event[]): Timeline {
  const byId = new Map<number, Partial<Record<Event[0], number>>>();
  for (const [kind, id, ms] of events) if (id >= 0) byId.set(id, { ...byId.get(id), [kind]: ms });
  const reqs = [...byId.values()].sort((x, y) => (x.req ?? 0) - (y.req ?? 0));
  const ends = reqs.map((r) => r.end ?? Number.NaN);
  const exit = events.find((e) => e[0] === 'exit')?.[2] ?? Number.NaN;
  const firstRequest = reqs[0]?.req ?? Number.NaN;
  let between = 0;
  for (let i = 1; i < reqs.length; i++) between += (reqs[i]?.req ?? 0) - (reqs[i - 1]?.end ?? 0);
  return { firstRequest, lastResponse: Math.max(...ends), exit, requests: reqs.length, firstTen: (reqs[10]?.req ?? Number.NaN) - firstRequest, between };
}

/** A contender run under the preload (node scripts only: the agent and s3-sync-client). */
function traced(tool: Tool, id: string, label: string): Tool {
  return {
    ...tool,
    id,
    label,
    async invocation(t) {
      const i = await tool.invocation(t);
      return { ...i, args: ['--import', PRELOAD, ...i.args] };
    },
  };
}

const env = benchEnv();
const n = Number(a.files);
const corpus = await makeCorpus({ root: path.join(a.work, `large-${n}`), files: n, bigFiles: 0, maxSize: 4096 });
const out = path.join(a.work, `timeline-${Date.now()}`);
await mkdir(out, { recursive: true });
const contenders: Tool[] = [traced(agentTool(), 'agent', 'sync-agent (this checkout)')];
if (a.base) contenders.push(traced(agentTool({ entry: path.resolve(a.base, 'bin', 'sync-agent.js'), id: 'agent-base' }), 'agent-base', `sync-agent (${a.base})`));
const nodeArgs = a['node-args']?.split(',').filter((x) => x !== '');
if (nodeArgs?.length) contenders.push(traced(agentTool({ id: 'agent-args', nodeArgs }), 'agent-args', `sync-agent (node ${nodeArgs.join(' ')})`));
contenders.push(traced(s3SyncClient, 's3-sync-client', 's3-sync-client (npm)'));

const latencyMs = Number(a['latency-ms']);
const s = await startS3Server({ buckets: ['timeline'] });
let proxy: FaultProxy | undefined;
try {
  if (latencyMs > 0) {
    proxy = await startFaultProxy(Number(new URL(s.endpoint).port));
    // A fresh hold per request: the rule's fault is read once for each request it matches.
    proxy.inject({
      get fault(): Fault {
        return { kind: 'hold', release: sleep(latencyMs) };
      },
    });
  }
  const endpoint = proxy?.endpoint ?? s.endpoint;
  // Every agent keeps its own state folder (work); all share the bucket and the corpus.
  const target = (id: string): Target => ({ endpoint: id === 'fill' ? s.endpoint : endpoint, bucket: 'timeline', local: corpus.root, work: path.join(out, id), concurrency: 16, env: s.env });
  const fill = await runPass({ server: s, tool: floorRaw, target: target('fill'), pass: 'populate', rep: 0, check: { kind: 'mirror' }, files: n, env, logPrefix: path.join(out, 'fill') });
  if (!fill.ok) throw new Error(`filling the bucket failed: ${fill.problem ?? ''}`);
  for (const c of contenders.filter((t) => t.role === 'agent')) {
    const r = await runPass({ server: s, tool: c, target: target(c.id), pass: 'adopt', rep: 0, check: { kind: 'no-writes', mirror: false }, files: n, env, logPrefix: path.join(out, `adopt-${c.id}`) });
    if (!r.ok) throw new Error(`${c.id} could not adopt the bucket: ${r.problem ?? ''}`);
  }
  const rows = new Map<string, { r: PassResult; t: Timeline }[]>();
  for (let rep = 0; rep < Number(a.reps); rep++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(rep + k) % contenders.length] as Tool;
      const file = path.join(out, `${c.id}-${rep}.json`);
      const r = await runPass({ server: s, tool: c, target: target(c.id), pass: 'noop-large', rep, check: { kind: 'no-writes', mirror: false }, files: n, env: { ...env, TIMELINE_FILE: file }, logPrefix: path.join(out, `${c.id}-${rep}`) });
      if (!r.ok) throw new Error(`${c.id} rep ${rep}: ${r.problem ?? ''}`);
      const t = summarise(JSON.parse(await readFile(file, 'utf8')) as Event[]);
      rows.set(c.id, [...(rows.get(c.id) ?? []), { r, t }]);
      process.stdout.write(`${c.id} rep ${rep + 1}: ${(r.ms / 1000).toFixed(2)} s, CPU ${((r.cpuMs ?? 0) / 1000).toFixed(2)} s, first request ${t.firstRequest.toFixed(0)} ms, last response ${t.lastResponse.toFixed(0)} ms, tail ${(t.exit - t.lastResponse).toFixed(0)} ms, first 10 pages ${t.firstTen.toFixed(0)} ms, between pages ${t.between.toFixed(0)} ms, load ${r.load1.toFixed(1)}\n`);
    }
  }
  const s1 = (ms: number): string => (ms / 1000).toFixed(2);
  const lines = [
    `No-op over ${n.toLocaleString('en-US')} objects${latencyMs > 0 ? `, ${latencyMs} ms added to each request` : ''}, medians of ${a.reps} (wall and CPU of the process; times from its start):`,
    '',
    '| contender | wall s | CPU s | first request s | listing s (first request to last response) | tail s (last response to exit) | first 10 pages s | between pages s | requests |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of contenders) {
    const xs = rows.get(c.id) ?? [];
    const m = (f: (x: { r: PassResult; t: Timeline }) => number): number => median(xs.map(f)) ?? Number.NaN;
    lines.push(`| ${c.label} | ${s1(m((x) => x.r.ms))} | ${s1(m((x) => x.r.cpuMs ?? 0))} | ${s1(m((x) => x.t.firstRequest))} | ${s1(m((x) => x.t.lastResponse - x.t.firstRequest))} | ${s1(m((x) => x.t.exit - x.t.lastResponse))} | ${s1(m((x) => x.t.firstTen))} | ${s1(m((x) => x.t.between))} | ${m((x) => x.t.requests)} |`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
} finally {
  await proxy?.close();
  await s.stop();
}
