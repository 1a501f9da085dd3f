// The peers, each pointed at the local S3 server (path style, us-east-1, the server's keys) with
// its own defaults unless the issue names a tuning. Every one mirrors a folder into a bucket and
// deletes what the folder no longer has.

import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectBinary, type Availability, type Invocation, type Target, type Tool } from './tool.js';

const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url));

/** Binary paths found by detect(), so invocation() runs exactly what was reported. */
const found = new Map<string, string>();

async function detectAs(name: string, versionArgs: readonly string[]): Promise<Availability> {
  const r = await detectBinary(name, versionArgs);
  if (r.ok && r.path) found.set(name, r.path);
  return r.ok ? { ok: true, version: r.version } : r;
}

const binary = (name: string): string => found.get(name) ?? name;

/** rclone's on-the-fly remote `s3rver:` from RCLONE_CONFIG_S3RVER_* variables (no config file). */
async function rcloneEnv(t: Target): Promise<Record<string, string>> {
  // An empty config file: rclone must not pick up (or write to) the user's own.
  const config = path.join(t.work, 'rclone.conf');
  await mkdir(t.work, { recursive: true });
  await writeFile(config, '');
  return {
    RCLONE_CONFIG: config,
    RCLONE_CONFIG_S3RVER_TYPE: 's3',
    RCLONE_CONFIG_S3RVER_PROVIDER: 'Other',
    RCLONE_CONFIG_S3RVER_ENDPOINT: t.endpoint,
    RCLONE_CONFIG_S3RVER_ACCESS_KEY_ID: t.env.AWS_ACCESS_KEY_ID ?? '',
    RCLONE_CONFIG_S3RVER_SECRET_ACCESS_KEY: t.env.AWS_SECRET_ACCESS_KEY ?? '',
    RCLONE_CONFIG_S3RVER_REGION: 'us-east-1',
    RCLONE_CONFIG_S3RVER_FORCE_PATH_STYLE: 'true',
  };
}

const rclone = (id: string, label: string, extra: readonly string[]): Tool => ({
  id,
  label,
  role: 'peer',
  detect: () => detectAs('rclone', ['version']),
  async invocation(t: Target): Promise<Invocation> {
    return { command: binary('rclone'), args: ['sync', t.local, `s3rver:${t.bucket}`, ...extra], env: await rcloneEnv(t) };
  },
});

export const rcloneDefault = rclone('rclone', 'rclone sync', []);
export const rcloneTuned = rclone('rclone-tuned', 'rclone sync --fast-list --checksum --transfers 16 --checkers 16', [
  '--fast-list',
  '--checksum',
  '--transfers',
  '16',
  '--checkers',
  '16',
]);

export const awsCli: Tool = {
  id: 'aws',
  label: 'aws s3 sync',
  role: 'peer',
  detect: () => detectAs('aws', ['--version']),
  async invocation(t: Target): Promise<Invocation> {
    // Path-style addressing lives in the config file; with an IP endpoint virtual hosts cannot work.
    const config = path.join(t.work, 'aws.config');
    await mkdir(t.work, { recursive: true });
    await writeFile(config, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
    return {
      command: binary('aws'),
      args: ['s3', 'sync', t.local, `s3://${t.bucket}`, '--delete', '--only-show-errors', '--endpoint-url', t.endpoint],
      env: {
        AWS_CONFIG_FILE: config,
        AWS_SHARED_CREDENTIALS_FILE: path.join(t.work, 'no-credentials'),
        // Newer CLIs send aws-chunked checksum bodies by default, which s3rver stores verbatim.
        AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
        AWS_PAGER: '',
      },
    };
  },
};

export const s3cmd: Tool = {
  id: 's3cmd',
  label: 's3cmd sync',
  role: 'peer',
  detect: () => detectAs('s3cmd', ['--version']),
  async invocation(t: Target): Promise<Invocation> {
    const host = new URL(t.endpoint).host;
    const config = path.join(t.work, 's3cmd.cfg');
    await mkdir(t.work, { recursive: true });
    await writeFile(
      config,
      [
        '[default]',
        `access_key = ${t.env.AWS_ACCESS_KEY_ID ?? ''}`,
        `secret_key = ${t.env.AWS_SECRET_ACCESS_KEY ?? ''}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        'bucket_location = us-east-1',
        'use_https = False',
        'signature_v2 = False',
        '',
      ].join('\n'),
    );
    // A trailing slash syncs the folder's contents, not the folder itself.
    return { command: binary('s3cmd'), args: ['-c', config, 'sync', '--delete-removed', '--no-progress', '--quiet', `${t.local}/`, `s3://${t.bucket}/`] };
  },
};

export const s3SyncClient: Tool = {
  id: 's3-sync-client',
  label: 's3-sync-client (npm)',
  role: 'peer',
  async detect(): Promise<Availability> {
    try {
      const pkg = JSON.parse(await readFile(path.join(PEERS_DIR, 'node_modules/s3-sync-client/package.json'), 'utf8')) as { version?: string };
      await access(path.join(PEERS_DIR, 's3-sync-client.mjs'));
      return { ok: true, version: `s3-sync-client ${pkg.version ?? '?'}` };
    } catch {
      return { ok: false, reason: 'not installed (npm install --prefix bench/peers)' };
    }
  },
  async invocation(t: Target): Promise<Invocation> {
    return { command: process.execPath, args: [path.join(PEERS_DIR, 's3-sync-client.mjs'), t.local, t.bucket], env: { BENCH_S3_ENDPOINT: t.endpoint } };
  },
};

export const PEERS: readonly Tool[] = [rcloneDefault, rcloneTuned, awsCli, s3cmd, s3SyncClient];
