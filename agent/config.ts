// agent.config.json: one zod schema validates it, types it and generates agent.config.schema.json.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DELETE_MODES, DIRECTIONS } from './types.js';

/** Field names that hold secrets; refused anywhere in a remote (credentials live elsewhere). */
export const CREDENTIAL_FIELDS = [
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'accessKey',
  'secretKey',
  'password',
  'token',
] as const;

const prefix = z
  .string()
  .describe('Folder in the bucket; "backups" and "backups/" mean the same.')
  .optional();

const url = z.string().regex(/^https?:\/\/[^/\s]+/, 'must be a URL with scheme, like http://127.0.0.1:9000');

const s3Remote = z
  .object({
    provider: z.literal('s3'),
    bucket: z.string().min(3, 'bucket names have at least 3 characters'),
    prefix,
    region: z.string().optional().describe('AWS region; default from the AWS chain, else us-east-1.'),
    endpoint: url.optional().describe('S3-compatible endpoint URL (MinIO, Kodo S3, s3rver).'),
    forcePathStyle: z.boolean().optional().describe('Path-style addressing; default true when endpoint is set.'),
    profile: z.string().optional().describe('Profile in the shared AWS credentials file.'),
    storageClass: z.string().optional(),
    sse: z.enum(['AES256', 'aws:kms']).optional().describe('Server-side encryption.'),
  })
  .strict();

const qiniuRemote = z
  .object({
    provider: z.literal('qiniu'),
    bucket: z.string().min(1),
    prefix,
    region: z.string().optional().describe('Qiniu region id (z0, z1, z2, na0, as0, cn-east-2, …).'),
    domain: z.string().min(1).describe('Download domain of the bucket; a bare host means https.'),
    private: z.boolean().optional().describe('Private bucket: downloads use signed URLs valid one hour.'),
    hosts: z
      .object({ up: url, rs: url, rsf: url, api: url.optional(), io: url.optional(), uc: url.optional() })
      .strict()
      .optional()
      .describe('Service host overrides (private cloud, tests); no region query when given.'),
    credentialsFile: z
      .string()
      .optional()
      .describe('JSON {accessKey, secretKey}; must not be readable by group or others.'),
  })
  .strict()
  .refine((r) => r.region !== undefined || r.hosts !== undefined, {
    message: 'qiniu needs "region" (z0, z1, …) or "hosts"',
    path: ['region'],
  });

const fsRemote = z
  .object({
    provider: z.literal('fs'),
    path: z.string().min(1).describe('Folder used as the remote (NAS, USB disk).'),
  })
  .strict();

export const remoteSchema = z.discriminatedUnion('provider', [s3Remote, qiniuRemote, fsRemote]);

export const pairSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, ".", "_" or "-"')
      .describe('Unique name of the pair (used by --pair and in state file names).'),
    local: z.string().min(1).describe('Local folder, relative to the config file.'),
    remote: remoteSchema,
    direction: z.enum(DIRECTIONS).default('both'),
    deletes: z.enum(DELETE_MODES).default('propagate'),
    ignore: z.array(z.string()).default([]).describe('.gitignore patterns added to the built-ins.'),
    debounceMs: z.number().int().min(0).max(600_000).default(500),
    reconcileEverySec: z.number().int().min(1).default(300),
    maxDeletePercent: z.number().min(0).max(100).default(50),
    symlinks: z.enum(['skip', 'follow']).default('skip'),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    stateDir: z.string().min(1).default('.sync-agent').describe('Manifest, lock and status; never synced.'),
    concurrency: z.number().int().min(1).max(256).default(8).describe('Transfers in flight, all pairs together.'),
    pairs: z.array(pairSchema).min(1, 'at least one pair is needed'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.pairs.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', message: `duplicate pair name "${p.name}"`, path: ['pairs', i, 'name'] });
      seen.add(p.name);
    });
  });

export type RawConfig = z.infer<typeof configSchema>;
export type RemoteConfig = z.infer<typeof remoteSchema>;
export type PairConfig = z.infer<typeof pairSchema>;

/** A validated config with every path made absolute against the config file's folder. */
export interface AgentConfig extends RawConfig {
  readonly file: string;
  readonly baseDir: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Finds credential fields anywhere inside each remote, as field paths. */
export function findCredentials(raw: unknown): string[] {
  const found: string[] = [];
  const pairs = (raw as { pairs?: unknown })?.pairs;
  if (!Array.isArray(pairs)) return found;
  const walk = (value: unknown, at: string): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if ((CREDENTIAL_FIELDS as readonly string[]).includes(k)) found.push(`${at}.${k}`);
      walk(v, `${at}.${k}`);
    }
  };
  pairs.forEach((p, i) => walk((p as { remote?: unknown })?.remote, `pairs[${i}].remote`));
  return found;
}

const formatPath = (p: readonly PropertyKey[]): string =>
  p.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '') || '(root)';

/** Validates parsed JSON; throws ConfigError listing every problem by field path. */
export function parseConfig(raw: unknown, file: string): AgentConfig {
  const creds = findCredentials(raw);
  if (creds.length > 0) {
    throw new ConfigError(
      file,
      creds.map(
        (c) =>
          `${c}: credentials do not belong in agent.config.json; use the AWS credential chain ` +
          `(environment, ~/.aws/credentials, "profile") for s3, or QINIU_ACCESS_KEY/QINIU_SECRET_KEY ` +
          `or "credentialsFile" for qiniu`,
      ),
    );
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(file, result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const baseDir = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(baseDir, p);
  const cfg = result.data;
  return {
    ...cfg,
    file: path.resolve(file),
    baseDir,
    stateDir: abs(cfg.stateDir),
    pairs: cfg.pairs.map((p) => ({
      ...p,
      local: abs(p.local),
      remote:
        p.remote.provider === 'fs'
          ? { ...p.remote, path: abs(p.remote.path) }
          : p.remote.provider === 'qiniu' && p.remote.credentialsFile !== undefined
            ? { ...p.remote, credentialsFile: abs(p.remote.credentialsFile) }
            : p.remote,
    })),
  };
}

export async function loadConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read the config file: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [`not valid JSON: ${(e as Error).message}`]);
  }
  return parseConfig(raw, file);
}

/** The JSON schema committed as agent.config.schema.json (generated, never hand-edited). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
