// S3 conditional writes through the s3 provider: found out once per provider (a probe that leaves
// nothing behind), enforced by stores that have them (the write fails as 'precondition' and the
// object is untouched), and never relied on with stores that ignore them.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import test from 'ava';
import { S3Provider } from '../../providers/s3.js';
import { isProviderError, ProviderError } from '../../providers/provider.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { tmpDir, writeRandomFile, type TmpDir } from '../helpers/tmp.js';

let enforcing: S3Server;
let ignoring: S3Server;
let dir: TmpDir;
const MIB = 1024 * 1024;
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

test.before(async () => {
  Object.assign(process.env, CREDS, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  [enforcing, ignoring] = await Promise.all([startS3Server({ buckets: ['cond'] }), startS3Server({ buckets: ['cond'], conditionalWrites: false })]);
  dir = await tmpDir('sync-agent-cond-');
});
test.after.always(async () => {
  await Promise.all([enforcing?.stop(), ignoring?.stop()]);
  await dir?.cleanup();
});

let seq = 0;
const provider = (server: S3Server, partSize?: number): S3Provider =>
  new S3Provider({ bucket: 'cond', prefix: `run-${++seq}`, endpoint: server.endpoint, region: 'us-east-1', ...(partSize ? { partSize } : {}) });

async function keysOf(server: S3Server): Promise<string[]> {
  const out = await server.client().send(new ListObjectsV2Command({ Bucket: 'cond' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

async function preconditionError(t: { fail(m: string): void }, p: Promise<unknown>): Promise<ProviderError | undefined> {
  try {
    await p;
    t.fail('the write went through');
    return undefined;
  } catch (err) {
    return isProviderError(err) ? err : undefined;
  }
}

test.serial('a store that enforces conditional writes is found out once, and the probe leaves no object', async (t) => {
  const p = provider(enforcing);
  const before = await keysOf(enforcing);
  await enforcing.resetStats();
  t.true(await p.conditionalWrites());
  t.true(await p.conditionalWrites());
  t.is((await enforcing.stats()).requests, 1, 'one refused PUT, once');
  t.deepEqual(await keysOf(enforcing), before);
});

test.serial('a store that ignores them is found out too: the agent keeps its HEAD before each upload', async (t) => {
  const p = provider(ignoring);
  await ignoring.resetStats();
  t.false(await p.conditionalWrites());
  t.is((await ignoring.stats()).requests, 2, 'the PUT it took, and a DELETE of it');
  t.deepEqual(await keysOf(ignoring), []);
});

test.serial('"only if absent" and "only if this version" hold on single and multipart writes; a failed one changes nothing', async (t) => {
  const p = provider(enforcing, 5 * MIB);
  const small = path.join(dir.path, 'small.txt');
  await writeFile(small, 'first');
  const big = path.join(dir.path, 'big.bin');
  const bigBytes = await writeRandomFile(big, 6 * MIB);
  for (const [name, file, size] of [['a.txt', small, 5], ['big.bin', big, bigBytes.length]] as const) {
    const first = await p.upload(name, file, { mtimeMs: 1_700_000_000_000, size, precondition: { kind: 'absent' } });
    const again = await preconditionError(t, p.upload(name, file, { mtimeMs: 1_700_000_000_000, size, precondition: { kind: 'absent' } }));
    t.is(again?.kind, 'precondition', `${name}: a second "only if absent" write`);
    t.regex(again?.message ?? '', /changed .* planned again next pass/);
    const wrong = await preconditionError(t, p.upload(name, file, { mtimeMs: 1_700_000_000_000, size, precondition: { kind: 'token', token: 'not-the-etag' } }));
    t.is(wrong?.kind, 'precondition', `${name}: a write over a version that is not there`);
    t.is((await p.stat(name))?.token, first.token, `${name}: still the first version`);
    const over = await p.upload(name, file, { mtimeMs: 1_700_000_000_001, size, precondition: { kind: 'token', token: first.token } });
    t.is((await p.stat(name))?.mtimeMs, over.mtimeMs, `${name}: a write over the version listed goes through`);
  }
});

test.serial('a store that ignores them: the provider does not rely on them, and a write overwrites as that store does', async (t) => {
  const p = provider(ignoring);
  const small = path.join(dir.path, 'small2.txt');
  await writeFile(small, 'data');
  await p.upload('a.txt', small, { mtimeMs: 1_700_000_000_000, size: 4, precondition: { kind: 'absent' } });
  // The store would overwrite anyway; the provider reports the write as done, and the agent,
  // told conditionalWrites() === false, checks with a HEAD before it ever asks for this.
  const second = await p.upload('a.txt', small, { mtimeMs: 1_700_000_000_001, size: 4, precondition: { kind: 'absent' } });
  t.is((await p.stat('a.txt'))?.token, second.token);
});
