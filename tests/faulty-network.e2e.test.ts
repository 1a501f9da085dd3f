// A faulty network between the agent and the S3 server (tests/helpers/fault-proxy.ts): faults
// that heal are retried and the pass converges; a fault that outlasts the retries fails exactly
// the actions it hit (exit 1, listed) and the next pass completes them; a failed listing page
// stops the pass before anything changes (exit 3). An error never becomes a delete.

import test from 'ava';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { matching } from './helpers/fault-proxy.js';
import { createProxiedWorld, worldFingerprint, eventPaths, type World } from './helpers/world.js';
import { readTree, writeRandomFile } from './helpers/tmp.js';
import { agentTempFiles, digests, localDigests, remoteDigests } from './helpers/trees.js';
import { NOTHING, runCli, summaryOf, testEnv, type CliResult } from './helpers/cli.js';

let server: S3Server;

test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});



const failuresOf = (r: CliResult): string[] => (r.logs.find((l) => l.event === 'summary')?.failures as string[] | undefined) ?? [];
const why = (r: CliResult): string => `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`;

/** Some local files and some remote objects to move, with the bytes each side must end up with. */
async function seed(w: World, n: { local: number; remote: number; size: number }): Promise<Record<string, Buffer>> {
  const expected: Record<string, Buffer> = {};
  for (let i = 0; i < n.local; i++) expected[`up/file-${i}.bin`] = await writeRandomFile(path.join(w.local, 'up', `file-${i}.bin`), n.size + i);
  for (let i = 0; i < n.remote; i++) {
    const body = Buffer.alloc(n.size + i, i + 1);
    await w.put(`down/obj-${i}.bin`, body);
    expected[`down/obj-${i}.bin`] = body;
  }
  return expected;
}

test.serial('503s on transfers for a while: the pass retries and converges, byte-exact', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const expected = await seed(w, { local: 10, remote: 8, size: 50_000 });
  const fault = proxy.inject({ fault: { kind: 'status', status: 503 }, match: matching(['put', 'get', 'head']), times: 12 });

  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is(fault.hits, 12);
  t.deepEqual(await localDigests(w.local), digests(expected));
  t.deepEqual(await remoteDigests(w), digests(expected));
  t.is(summaryOf(await w.run()), NOTHING);
});

test.serial('500s on the listing heal within the attempts: the pass goes on', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const expected = await seed(w, { local: 3, remote: 3, size: 1000 });
  const fault = proxy.inject({ fault: { kind: 'status', status: 500 }, match: matching(['list']), times: 2 });
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is(fault.hits, 2);
  t.deepEqual(await localDigests(w.local), digests(expected));
  t.deepEqual(await remoteDigests(w), digests(expected));
});

test.serial('connections reset in the middle of uploads and downloads: retried, byte-exact, no temp files left', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  const expected = await seed(w, { local: 4, remote: 4, size: 1_500_000 });
  // Each cut lands 200 kB into a transfer: a partial body on the server, a partial temp file here.
  const fault = proxy.inject({ fault: { kind: 'reset', afterBytes: 200_000 }, match: matching(['put', 'get']), times: 6 });
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is(fault.hits, 6);
  t.deepEqual(await localDigests(w.local), digests(expected));
  t.deepEqual(await remoteDigests(w), digests(expected));
  t.deepEqual(await agentTempFiles(w.local), []);
  t.is(summaryOf(await w.run()), NOTHING);
});

test.serial('stalled requests time out and are retried: the pass does not hang', async (t) => {
  // The provider's request timeout, shortened so the stall costs seconds, not minutes.
  const { w, proxy } = await createProxiedWorld(server, t);
  const expected = await seed(w, { local: 3, remote: 3, size: 100_000 });
  const fault = proxy.inject({ fault: { kind: 'stall' }, match: matching(['put', 'get']), times: 3 });
  const r = await runCli(['--reconcile'], { cwd: w.dir, env: testEnv({ ...server.env, SYNC_AGENT_S3_IDLE_TIMEOUT_MS: '3000' }) });
  t.is(r.code, 0, why(r));
  t.is(fault.hits, 3);
  t.deepEqual(await localDigests(w.local), digests(expected));
  t.deepEqual(await remoteDigests(w), digests(expected));
  t.deepEqual(await agentTempFiles(w.local), []);
});

test.serial('a fault that outlasts the retries: exit 1 listing exactly what failed, and the next pass completes it', async (t) => {
  const { w, proxy } = await createProxiedWorld(server, t);
  await writeFile(path.join(w.local, 'doomed.txt'), 'delete me remotely');
  await writeFile(path.join(w.local, 'steady.txt'), 'steady');
  t.is((await w.run()).code, 0);

  await writeFile(path.join(w.local, 'stuck-up.txt'), 'cannot be uploaded yet');
  await writeFile(path.join(w.local, 'fine-up.txt'), 'uploads fine');
  await w.put('stuck-down.txt', 'cannot be downloaded yet');
  await w.put('fine-down.txt', 'downloads fine');
  await rm(path.join(w.local, 'doomed.txt'));
  proxy.inject({ fault: { kind: 'status', status: 503 }, match: matching(['put'], 'stuck-up.txt') });
  proxy.inject({ fault: { kind: 'status', status: 503 }, match: matching(['get'], 'stuck-down.txt') });
  proxy.inject({ fault: { kind: 'status', status: 500 }, match: matching(['head', 'delete', 'delete-many'], 'doomed.txt') });
  // A DeleteObjects names its keys in the body, not the path: every batch fails (the only delete here).
  proxy.inject({ fault: { kind: 'status', status: 500 }, match: matching(['delete-many']) });

  const r = await w.run();
  t.is(r.code, 1, why(r));
  t.is(summaryOf(r), 'uploaded 1, downloaded 1, deleted 0, conflicts 0, failed 3');
  const failures = failuresOf(r);
  t.deepEqual(
    failures.map((f) => f.split(': ').slice(0, 2).join(': ')),
    ['main: deleteRemote doomed.txt', 'main: download stuck-down.txt', 'main: upload stuck-up.txt'],
  );
  for (const f of failures) t.regex(f, /(503|500|ServiceUnavailable|InternalError|unreachable, busy or timed out)/, f);
  t.regex(r.stderr, /failed:\n {2}main: \w+ \S+: .+\n {2}main: \w+ \S+: .+\n {2}main: \w+ \S+: .+\n?$/);
  for (const p of ['doomed.txt', 'stuck-down.txt', 'stuck-up.txt']) t.true(r.stderr.includes(` ${p}: `), p);
  // What failed changed nothing: the object to delete is still there, nothing half-downloaded.
  t.is((await w.get('doomed.txt'))?.toString(), 'delete me remotely');
  t.is(await w.get('stuck-up.txt'), undefined);
  t.deepEqual(Object.keys(await readTree(w.local)).sort(), ['fine-down.txt', 'fine-up.txt', 'steady.txt', 'stuck-up.txt']);
  t.deepEqual(await agentTempFiles(w.local), []);

  proxy.heal();
  const after = await w.run();
  t.is(after.code, 0, why(after));
  t.is(summaryOf(after), 'uploaded 1, downloaded 1, deleted 1, conflicts 0, failed 0');
  t.deepEqual(eventPaths(after, 'upload'), ['stuck-up.txt']);
  t.deepEqual(eventPaths(after, 'download'), ['stuck-down.txt']);
  t.deepEqual(eventPaths(after, 'deleteRemote'), ['doomed.txt']);
  const expected = { 'fine-down.txt': 'downloads fine', 'fine-up.txt': 'uploads fine', 'steady.txt': 'steady', 'stuck-down.txt': 'cannot be downloaded yet', 'stuck-up.txt': 'cannot be uploaded yet' };
  t.deepEqual(await localDigests(w.local), digests(expected));
  t.deepEqual(await remoteDigests(w), digests(expected));
});

test.serial('a listing page that fails mid-way stops the pass (exit 3): nothing deleted on either side, manifest untouched', async (t) => {
  t.timeout(240_000);
  const { w, proxy } = await createProxiedWorld(server, t);
  // More than one page (1,000 keys) so the second page can fail after the first arrived.
  const names = Array.from({ length: 1010 }, (_, i) => `f/${String(i).padStart(4, '0')}.txt`);
  // The same bytes on both sides: the first pass adopts them by ETag (MD5) without transfers.
  await mkdir(path.join(w.local, 'f'));
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(names.slice(i, i + 20).map(async (n) => Promise.all([w.put(n, `object ${n}`), writeFile(path.join(w.local, n), `object ${n}`)])));
  }
  const first = await w.run();
  t.is(first.code, 0, why(first));
  t.is(Object.keys(await readTree(w.local)).length, names.length);

  // Changes that a pass would turn into deletes on both sides, and a new file to upload.
  await rm(path.join(w.local, 'f/0001.txt'));
  await rm(path.join(w.local, 'f/1005.txt'));
  await w.del('f/0002.txt');
  await w.del('f/1006.txt');
  await writeFile(path.join(w.local, 'new.txt'), 'new');
  const before = await worldFingerprint(w);
  const pageTwo = proxy.inject({ fault: { kind: 'status', status: 500 }, match: (req) => matching(['list'])(req) && req.url.includes('continuation-token=') });

  for (const args of [['--reconcile'], ['--reconcile', '--force']]) {
    const r = await w.run(...args);
    t.is(r.code, 3, why(r));
    t.regex(r.stderr, /list/i);
    t.deepEqual(await worldFingerprint(w), before, `${args.join(' ')} changed nothing`);
  }
  t.true(pageTwo.hits >= 2);

  proxy.heal();
  const r = await w.run();
  t.is(r.code, 0, why(r));
  t.is(summaryOf(r), 'uploaded 1, downloaded 0, deleted 4, conflicts 0, failed 0');
  const left = names.filter((n) => !['f/0001.txt', 'f/1005.txt', 'f/0002.txt', 'f/1006.txt'].includes(n));
  t.deepEqual(Object.keys(await readTree(w.local)).sort(), [...left, 'new.txt'].sort());
  t.deepEqual(await w.keys(), [...left, 'new.txt'].sort());
  t.is(await readFile(path.join(w.local, 'f/0003.txt'), 'utf8'), 'object f/0003.txt');
});
