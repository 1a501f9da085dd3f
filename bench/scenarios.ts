// The scenarios. Within a repetition every contender runs the same pass back to back (in an order
// rotated per repetition, so drift on a shared machine spreads evenly) before the next pass starts.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { agentTool } from './contenders.js';
import { makeBigFile, makeCorpus, type Corpus, type CorpusOptions } from './corpus.js';
import { linkCopy, mutate } from './mutate.js';
import { runPass, type Check, type PassName, type PassResult } from './pass.js';
import type { Target, Tool } from './tool.js';
import { mirrorProblem } from './verify.js';

export interface BenchContext {
  /** Available contenders, in table order. */
  readonly tools: readonly Tool[];
  /** Scratch root (corpora, working copies, tool state, logs). */
  readonly work: string;
  readonly env: NodeJS.ProcessEnv;
  readonly concurrency: number;
  readonly record: (r: PassResult) => void;
  readonly say: (line: string) => void;
}

const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length] as T);

async function withServer<T>(fn: (s: S3Server) => Promise<T>): Promise<T> {
  // A fresh server (and data folder) per repetition keeps the disk use of one repetition bounded.
  const server = await startS3Server({ buckets: [] });
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * Empties a scratch folder left by an interrupted run: the agent's manifest there names the old
 * server's port, and the agent rightly refuses it (exit 2) for the new one.
 */
const fresh = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

interface Slot {
  readonly tool: Tool;
  readonly target: Target;
}

async function slotFor(ctx: BenchContext, s: S3Server, tool: Tool, bucket: string, local: string, work: string): Promise<Slot> {
  await s.createBucket(bucket);
  await mkdir(work, { recursive: true });
  return { tool, target: { endpoint: s.endpoint, bucket, local, work, concurrency: ctx.concurrency, env: s.env } };
}

/** Runs and reports a pass; `record: false` keeps set-up passes out of the results. */
async function timed(ctx: BenchContext, s: S3Server, slot: Slot, pass: PassName, rep: number, check: Check, files: number, record = true): Promise<PassResult> {
  const r = await runPass({ server: s, tool: slot.tool, target: slot.target, pass, rep, check, files, env: ctx.env, logPrefix: path.join(slot.target.work, `${pass}-${rep}`) });
  if (record) ctx.record(r);
  const rss = `${r.peakRssKiB ? `, peak ${Math.round(r.peakRssKiB / 1024)} MiB` : ''}${r.cpuMs ? `, cpu ${r.cpuMs} ms` : ''}, load ${r.load1}`;
  ctx.say(`  ${pass.padEnd(11)} ${slot.tool.id.padEnd(15)} ${String(r.ms).padStart(7)} ms  ${r.server.requests} requests${rss}${r.ok ? '' : `  FAILED: ${r.problem ?? ''}`}`);
  return r;
}

/** First upload, no-op, then 1% changed + 1% added + 1% deleted, each contender in its own bucket. */
export async function chain(ctx: BenchContext, corpus: Corpus, rep: number): Promise<void> {
  await withServer(async (s) => {
    const dir = path.join(ctx.work, `chain-r${rep}`);
    await fresh(dir);
    const slots: Slot[] = [];
    for (const tool of rotate(ctx.tools, rep)) {
      const local = path.join(dir, tool.id, 'local');
      await linkCopy(corpus.root, local);
      slots.push(await slotFor(ctx, s, tool, `${tool.id}-r${rep}`, local, path.join(dir, tool.id, 'work')));
    }
    const n = corpus.files.length;
    for (const slot of slots) await timed(ctx, s, slot, 'first', rep, { kind: 'mirror' }, n);
    for (const slot of slots) await timed(ctx, s, slot, 'noop', rep, { kind: 'no-writes', mirror: true }, n);
    let files = n;
    for (const slot of slots) {
      const m = await mutate(corpus, slot.target.local, `r${rep}`);
      files = n + m.added.length - m.deleted.length;
    }
    for (const slot of slots) await timed(ctx, s, slot, 'incremental', rep, { kind: 'mirror' }, files);
    await rm(dir, { recursive: true, force: true });
  });
}

/** One big file into a fresh bucket (multipart), plus the agent's idle baseline for memory. */
export async function bigFile(ctx: BenchContext, sizeBytes: number, rep: number): Promise<void> {
  const src = path.join(ctx.work, `big-${sizeBytes}`, 'src');
  await makeBigFile(path.join(src, 'big.dat'), sizeBytes);
  await withServer(async (s) => {
    const dir = path.join(ctx.work, `gib-r${rep}`);
    await fresh(dir);
    for (const tool of rotate(ctx.tools, rep)) {
      const slot = await slotFor(ctx, s, tool, `${tool.id}-g${rep}`, src, path.join(dir, tool.id));
      await timed(ctx, s, slot, 'gib', rep, { kind: 'mirror' }, 1);
    }
    // Idle: the agent's peak memory on a no-op over one small file (startup, SDK, one listing).
    if (ctx.tools.some((t) => t.role === 'agent')) {
      const idleSrc = path.join(dir, 'idle-src');
      await mkdir(idleSrc, { recursive: true });
      await writeFile(path.join(idleSrc, 'one.txt'), 'one small file\n');
      const slot = await slotFor(ctx, s, agentTool(), `idle-r${rep}`, idleSrc, path.join(dir, 'idle-work'));
      await timed(ctx, s, slot, 'first', rep, { kind: 'none' }, 1, false);
      await timed(ctx, s, slot, 'idle', rep, { kind: 'no-writes', mirror: false }, 1);
    }
    await rm(dir, { recursive: true, force: true });
  });
}

/**
 * No-op at scale: the bucket is filled once by the server-limit client, the agent adopts it once
 * (untimed for the table: it needs a manifest), then every contender re-syncs it `reps` times.
 */
export async function largeNoop(ctx: BenchContext, opts: CorpusOptions, reps: number): Promise<void> {
  const corpus = await makeCorpus(opts);
  const n = corpus.files.length;
  await withServer(async (s) => {
    const dir = path.join(ctx.work, 'large');
    await fresh(dir);
    const filler = ctx.tools.find((t) => t.role === 'limit');
    if (!filler) throw new Error('the large no-op needs the floor-raw contender to fill its bucket');
    const fill = await slotFor(ctx, s, filler, 'large', corpus.root, path.join(dir, 'fill'));
    const filled = await timed(ctx, s, fill, 'populate', 0, { kind: 'mirror' }, n);
    if (!filled.ok) throw new Error(`could not fill the large bucket: ${filled.problem ?? ''}`);
    const slots = ctx.tools.map((tool): Slot => ({ tool, target: { ...fill.target, work: path.join(dir, tool.id) } }));
    for (const slot of slots) await mkdir(slot.target.work, { recursive: true });
    const agents = slots.filter((x) => x.tool.role === 'agent');
    for (const slot of agents) await timed(ctx, s, slot, 'adopt', 0, { kind: 'no-writes', mirror: false }, n);
    for (let rep = 1; rep <= reps; rep++) {
      for (const slot of rotate(slots, rep)) await timed(ctx, s, slot, 'noop-large', rep, { kind: 'no-writes', mirror: false }, n);
    }
    // One full check at the end: nothing was lost or added by any contender.
    const problem = await mirrorProblem(s.client(), 'large', corpus.root);
    ctx.say(problem ? `  large bucket after all no-ops: ${problem}` : '  large bucket after all no-ops: still mirrors the folder');
  });
}
