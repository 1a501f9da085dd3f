// S3 conditional deletes through the s3 provider: found out once per provider, enforced by stores
// that have them (a path whose object changed since the caller listed it is kept and fails as
// 'precondition'), and never relied on with stores that ignore them.

import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { S3Provider } from '../../providers/s3.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';

let enforcing: S3Server;
let ignoring: S3Server;
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

test.before(async () => {
  Object.assign(process.env, CREDS, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  [enforcing, ignoring] = await Promise.all([startS3Server({ buckets: ['del'] }), startS3Server({ buckets: ['del'], conditionalWrites: false })]);
});
test.after.always(async () => {
  await Promise.all([enforcing?.stop(), ignoring?.stop()]);
});

let seq = 0;
const provider = (server: S3Server): { p: S3Provider; prefix: string } => {
  const prefix = `run-${++seq}`;
  return { p: new S3Provider({ bucket: 'del', prefix, endpoint: server.endpoint, region: 'us-east-1' }), prefix };
};
const put = async (server: S3Server, key: string, body: string): Promise<string> =>
  ((await server.client().send(new PutObjectCommand({ Bucket: 'del', Key: key, Body: body }))).ETag ?? '').replace(/"/g, '');
async function keysOf(server: S3Server): Promise<string[]> {
  const out = await server.client().send(new ListObjectsV2Command({ Bucket: 'del' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

test.serial('with conditional deletes, one batch deletes the unchanged paths and keeps the one that changed since it was listed', async (t) => {
  const { p, prefix } = provider(enforcing);
  t.teardown(() => p.close());
  const listed = new Map<string, string>();
  for (const name of ['a.txt', 'b.txt', 'c.txt']) listed.set(name, await put(enforcing, `${prefix}/${name}`, `first ${name}`));
  listed.set('gone.txt', 'ffffffffffffffffffffffffffffffff');
  // Someone writes b.txt after the listing: its delete must not take the new version with it.
  await put(enforcing, `${prefix}/b.txt`, 'second b.txt, written after the listing');
  t.true(await p.conditionalDeletes());

  await enforcing.resetStats();
  const failed = await p.deleteMany(['a.txt', 'b.txt', 'c.txt', 'gone.txt'], { tokens: listed });
  t.deepEqual([...failed.keys()], ['b.txt']);
  t.is(failed.get('b.txt')?.kind, 'precondition');
  t.is((await enforcing.stats()).requests, 1, 'one DeleteObjects; the probe object went with it');
  // Only the changed object is left: a, c deleted, the missing one is not a failure, no probe litter.
  t.deepEqual(await keysOf(enforcing), [`${prefix}/b.txt`]);
  t.is((await p.stat('b.txt'))?.size, 'second b.txt, written after the listing'.length);
  await p.deleteMany(['b.txt']);
});

test.serial('a store that ignores conditional deletes is found out, and the probe leaves no object', async (t) => {
  const { p, prefix } = provider(ignoring);
  t.teardown(() => p.close());
  await ignoring.resetStats();
  t.false(await p.conditionalDeletes());
  t.false(await p.conditionalDeletes());
  t.is((await ignoring.stats()).requests, 2, 'one PUT and one DeleteObjects, once');
  t.deepEqual((await keysOf(ignoring)).filter((k) => k.startsWith(prefix)), []);
});

test.serial('the probe object is removed on close when no batch took it', async (t) => {
  const { p } = provider(enforcing);
  t.true(await p.conditionalDeletes());
  await p.close();
  t.deepEqual(await keysOf(enforcing), []);
});
