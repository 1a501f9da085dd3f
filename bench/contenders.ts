// The agent itself (the real CLI, one --reconcile pass) and the two floors (bench/floor.ts with
// the plain SDK, and with node:http as the server's own limit), as runnable tools.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Availability, Invocation, Target, Tool } from './tool.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'sync-agent.js');
const FLOOR = path.join(ROOT, 'bench', 'floor.ts');

async function projectVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version?: string };
  return `sync-agent ${pkg.version ?? '?'} on node ${process.version}`;
}

export interface AgentToolOptions {
  /** Extra node flags before the script (e.g. --cpu-prof). @default [] */
  readonly nodeArgs?: readonly string[];
  /** Overrides the id (a profiled variant must not share buckets). @default 'agent' */
  readonly id?: string;
  /** The script to run instead of bin/sync-agent.js (a prebuilt bundle, for experiments). @default bin/sync-agent.js */
  readonly entry?: string;
  /** The pair's `deletes` mode. @default the config's default (propagate) */
  readonly deletes?: 'propagate' | 'keep' | 'trash';
}

/** The agent's config for a target: one pair, an s3 remote on the bench server, state in work/. */
export async function writeAgentConfig(t: Target, deletes?: AgentToolOptions['deletes']): Promise<string> {
  await mkdir(t.work, { recursive: true });
  const file = path.join(t.work, 'agent.config.json');
  const config = {
    stateDir: path.join(t.work, 'state'),
    concurrency: t.concurrency,
    pairs: [
      {
        name: 'bench',
        local: t.local,
        remote: { provider: 's3', bucket: t.bucket, endpoint: t.endpoint, forcePathStyle: true, region: 'us-east-1' },
        ...(deletes ? { deletes } : {}),
      },
    ],
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export function agentTool(opts: AgentToolOptions = {}): Tool {
  return {
    id: opts.id ?? 'agent',
    label: 'sync-agent --reconcile',
    role: 'agent',
    detect: async (): Promise<Availability> => ({ ok: true, version: await projectVersion() }),
    async invocation(t: Target): Promise<Invocation> {
      const config = await writeAgentConfig(t, opts.deletes);
      return { command: process.execPath, args: [...(opts.nodeArgs ?? []), opts.entry ?? BIN, '--reconcile', '--config', config] };
    },
  };
}

/** bench/floor.ts with one client; `extra` flags make experiment variants (see floor.ts). */
export const floorTool = (client: 'sdk' | 'raw', extra: readonly string[] = [], id?: string): Tool => ({
  id: id ?? (client === 'sdk' ? 'floor-sdk' : 'floor-raw'),
  label: client === 'sdk' ? 'SDK floor (plain SDK, size-only)' : 'server limit (node:http + SigV4)',
  role: client === 'sdk' ? 'floor' : 'limit',
  detect: async (): Promise<Availability> => ({ ok: true, version: client === 'sdk' ? '@aws-sdk/client-s3 (root node_modules)' : 'node:http' }),
  async invocation(t: Target): Promise<Invocation> {
    return {
      command: process.execPath,
      args: ['--import', 'tsx', FLOOR, '--client', client, '--endpoint', t.endpoint, '--bucket', t.bucket, '--local', t.local, '--concurrency', String(t.concurrency), ...extra],
    };
  },
});

export const floorSdk = floorTool('sdk');
export const floorRaw = floorTool('raw');
