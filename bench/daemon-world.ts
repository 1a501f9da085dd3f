// The world of bench/daemon.ts, built once and reused: the 100,000-file corpus (bench/corpus.ts,
// the same folder run.ts's large no-op uses), a bucket on the test S3 server (s3rver through
// tests/helpers/s3-server-main.ts) whose data folder is kept between runs, filled by the
// server-limit client and adopted by one `--reconcile` pass, and a hard-link copy of the corpus
// for the daemon to watch and edit (edits rename a new file over a link: the corpus stays intact).

import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from '../tests/helpers/s3-server.js';
import { agentTool, floorRaw } from './contenders.js';
import { makeCorpus, type Corpus } from './corpus.js';
import { linkCopy } from './mutate.js';
import { runPass, type PassResult } from './pass.js';
import type { Target } from './tool.js';

export const BUCKET = 'daemon';
/** The pair's name in the generated configs; the manifest is `<state>/<PAIR>.manifest.json`. */
export const PAIR = 'bench';

export interface WorldOptions {
  /** Scratch root shared with bench/run.ts (the corpus lives there). */
  readonly work: string;
  readonly files: number;
  readonly env: NodeJS.ProcessEnv;
  readonly say: (line: string) => void;
}

export interface World {
  readonly corpus: Corpus;
  readonly server: S3Server;
  /** The daemon's folder: a hard-link copy of the corpus, made fresh for each run. */
  readonly local: string;
  /** Folder of the generated configs and the agent's stateDir (`state/`). */
  readonly agentDir: string;
  readonly stateDir: string;
  /** Same filesystem as `local`, outside it: edits are written here, then renamed into place. */
  readonly scratch: string;
  /** Set-up passes this run had to do (fill, adopt); empty when everything was reused. */
  readonly setup: readonly PassResult[];
}

/**
 * The test S3 server on a data folder that outlives it: filling 100,000 objects takes minutes,
 * so the bench keeps them between runs.
 */
export function startKeptServer(dataDir: string, bucket: string): Promise<S3Server> {
  return startS3Server({ dataDir, buckets: [bucket] });
}

/**
 * The manifest names the endpoint (`s3:http://127.0.0.1:<port>/<bucket>/`) and the kept server
 * gets a new port each run. The agent rightly refuses a manifest of another remote, so the bench
 * renames the remote in place: it is the same bucket on the same data folder. Only the document's
 * head is touched (the field sits before `entries`).
 */
export async function retargetManifest(file: string, endpoint: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const head = text.slice(0, 4096);
  const fixed = head.replace(/"remoteId":"s3:http:\/\/127\.0\.0\.1:\d+\//, `"remoteId":"s3:${endpoint}/`);
  if (fixed === head) return;
  const tmp = `${file}.bench-tmp`;
  await writeFile(tmp, fixed + text.slice(4096));
  await rename(tmp, file);
}

/** A marker beside the kept data: which corpus filled the bucket, and that the agent adopted it. */
interface Marker { readonly files: number; readonly filled: boolean; readonly adopted: boolean }

async function readMarker(file: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

/** Builds or reuses everything; the caller stops `server` at the end. */
export async function prepareWorld(o: WorldOptions): Promise<World> {
  const corpus = await makeCorpus({ root: path.join(o.work, `large-${o.files}`), files: o.files, bigFiles: 0, maxSize: 4096 });
  const dir = path.join(o.work, `daemon-${o.files}`);
  const markerFile = path.join(dir, 'world.json');
  let marker = await readMarker(markerFile);
  if (marker?.files !== o.files || !marker.filled) {
    // An interrupted fill leaves a bucket of unknown content: start it again from nothing.
    await rm(dir, { recursive: true, force: true });
    marker = { files: o.files, filled: false, adopted: false };
  }
  await mkdir(dir, { recursive: true });
  const local = path.join(dir, 'local');
  const agentDir = path.join(dir, 'agent');
  const stateDir = path.join(agentDir, 'state');
  const scratch = path.join(dir, 'scratch');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  o.say(`linking a fresh copy of ${corpus.root} at ${local}`);
  // Same inodes, sizes and mtimes as the adopted copy: the manifest still matches it exactly.
  await linkCopy(corpus.root, local);

  const server = await startKeptServer(path.join(dir, 's3data'), BUCKET);
  const setup: PassResult[] = [];
  try {
    const target: Target = { endpoint: server.endpoint, bucket: BUCKET, local, work: agentDir, concurrency: 16, env: server.env };
    if (!marker.filled) {
      o.say(`filling bucket "${BUCKET}" with ${o.files} objects (server-limit client; minutes)`);
      const fill = await runPass({ server, tool: floorRaw, target: { ...target, work: dir }, pass: 'populate', rep: 0, check: { kind: 'mirror' }, files: o.files, env: o.env, logPrefix: path.join(dir, 'fill') });
      setup.push(fill);
      if (!fill.ok) throw new Error(`could not fill the bucket: ${fill.problem ?? ''}`);
      marker = { ...marker, filled: true };
      await writeFile(markerFile, JSON.stringify(marker));
    }
    const manifest = path.join(stateDir, `${PAIR}.manifest.json`);
    await retargetManifest(manifest, server.endpoint);
    await retargetManifest(`${manifest}.bak`, server.endpoint);
    if (!marker.adopted || !(await exists(manifest))) {
      o.say('adopting the bucket: one --reconcile pass hashes every file (minutes)');
      const adopt = await runPass({ server, tool: agentTool(), target, pass: 'adopt', rep: 0, check: { kind: 'no-writes', mirror: false }, files: o.files, env: o.env, logPrefix: path.join(dir, 'adopt') });
      setup.push(adopt);
      if (!adopt.ok) throw new Error(`the adopting pass failed: ${adopt.problem ?? ''}`);
      marker = { ...marker, adopted: true };
      await writeFile(markerFile, JSON.stringify(marker));
    }
  } catch (e) {
    await server.stop();
    throw e;
  }
  return { corpus, server, local, agentDir, stateDir, scratch, setup };
}

async function exists(file: string): Promise<boolean> {
  const fh = await open(file).catch(() => undefined);
  await fh?.close();
  return fh !== undefined;
}
