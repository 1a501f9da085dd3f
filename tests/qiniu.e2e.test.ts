// The seed's Qiniu use case end to end through the real CLI, against the local Kodo emulator
// (real SDK, signatures checked): a pull-only backup of a public bucket that later syncs both
// ways, a private bucket, and credentials that are wrong, missing or too widely readable.

import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, summaryOf, testEnv, writeConfig, type CliResult } from './helpers/cli.js';
import { startQiniuEmulator, type EmulatorOp, type QiniuEmulator } from './helpers/qiniu-emulator.js';
import { readTree, tmpDir, writeFiles } from './helpers/tmp.js';
import { eventPaths, localFingerprint } from './helpers/world.js';

const AK = 'e2e-access-key';
const SK = 'e2e-secret-key-never-logged';
const PREFIX = 'backup';
const UPLOAD_OPS: readonly EmulatorOp[] = ['form', 'v2-init', 'v2-part', 'v2-complete', 'mkblk', 'mkfile'];

/** A >4 MiB object, so the qetag is the multi-block kind and the download streams several blocks. */
const BIG = randomBytes(4 * 1024 * 1024 + 12_345);
const SPECIAL = 'a+b&c=d%20e#f?.txt';
/** The bucket's tree under the prefix: nested folders, unicode, special characters, a big object. */
const TREE: Readonly<Record<string, string | Buffer>> = {
  'top.txt': 'top of the tree',
  'docs/2024/report.md': '# report\n',
  'docs/2024/q1/deep/notes.txt': 'deep inside',
  '照片/日本語 ü é.txt': 'unicode names',
  [SPECIAL]: 'special characters in the key',
  'media/big.bin': BIG,
};
/** mtime metadata (Unix seconds with a fraction, as rclone writes it) for some of the objects. */
const MTIMES: Readonly<Record<string, string>> = { 'top.txt': '1600000000.25', 'media/big.bin': '1650000000.5', [SPECIAL]: '1234567890' };

interface QiniuWorld {
  readonly dir: string;
  readonly local: string;
  readonly manifest: string;
  readonly emu: QiniuEmulator;
  /** Rewrites agent.config.json for the same folder and bucket. */
  configure(pair?: Record<string, unknown>, remote?: Record<string, unknown>): Promise<void>;
  /** One `--reconcile` (or `args`) with the right credentials unless `env` says otherwise. */
  run(env?: Record<string, string | undefined>, ...args: string[]): Promise<CliResult>;
  /** Seeds an object under the prefix, with an mtime from MTIMES when listed there. */
  seed(key: string, data: string | Buffer, meta?: Record<string, string>): Promise<void>;
  /** Requests of these kinds the emulator has answered so far. */
  count(ops: readonly EmulatorOp[]): number;
}

async function qiniuWorld(t: ExecutionContext, opts: { private?: boolean } = {}): Promise<QiniuWorld> {
  const bucket = 'kodo';
  const emu = await startQiniuEmulator({ accessKey: AK, secretKey: SK, buckets: [bucket], ...(opts.private ? { privateBuckets: [bucket] } : {}) });
  const tmp = await tmpDir('sync-agent-qiniu-e2e-');
  t.teardown(async () => {
    await emu.stop();
    await tmp.cleanup();
  });
  const local = path.join(tmp.path, 'local');
  const baseRemote = { provider: 'qiniu', bucket, prefix: PREFIX, domain: emu.domains[bucket], hosts: emu.hosts };
  const configure = async (pair: Record<string, unknown> = {}, remote: Record<string, unknown> = {}): Promise<void> => {
    await writeConfig(tmp.path, {
      stateDir: '.state',
      concurrency: 4,
      pairs: [{ name: 'main', local: './local', remote: { ...baseRemote, ...remote }, direction: 'pull', deletes: 'propagate', ...pair }],
    });
  };
  await configure();
  return {
    dir: tmp.path,
    local,
    manifest: path.join(tmp.path, '.state', 'main.manifest.json'),
    emu,
    configure,
    async run(env = {}, ...args) {
      const full = testEnv({ QINIU_ACCESS_KEY: AK, QINIU_SECRET_KEY: SK });
      // `undefined` removes a variable (missing credentials), whatever the machine has set.
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete full[k];
        else full[k] = v;
      }
      const r = await runCli(args.length ? args : ['--reconcile'], { cwd: tmp.path, env: full });
      t.false(`${r.stdout}${r.stderr}`.includes(SK), 'the secret key never appears in the output');
      return r;
    },
    seed: (key, data, meta) => emu.seed(bucket, `${PREFIX}/${key}`, data, meta ?? (MTIMES[key] ? { mtime: MTIMES[key] } : {})),
    count: (ops) => ops.reduce((n, op) => n + (emu.stats().byOp[op] ?? 0), 0),
  };
}

const mtimeMs = async (file: string): Promise<number> => (await stat(file)).mtimeMs;
const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

test.serial('pull-only backup of a public bucket: everything byte-exact, then only what changed, and a local delete restored', async (t) => {
  const w = await qiniuWorld(t);
  for (const [key, data] of Object.entries(TREE)) await w.seed(key, data);
  // Outside the prefix: another tool's data, never the pair's.
  await w.emu.seed('kodo', 'elsewhere/not-mine.txt', 'not mine');

  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  t.is(summaryOf(first), `uploaded 0, downloaded ${Object.keys(TREE).length}, deleted 0, conflicts 0, failed 0`);
  t.deepEqual(await readTree(w.local, { binary: true }), Object.fromEntries(Object.entries(TREE).map(([k, v]) => [k, Buffer.from(v)])));
  for (const [key, mtime] of Object.entries(MTIMES)) t.is(await mtimeMs(path.join(w.local, key)), Number(mtime) * 1000, `mtime of ${key}`);
  t.is(w.count(['download']), Object.keys(TREE).length);

  // A local addition in pull mode stays local ("remote wins next change", nothing uploaded).
  await writeFiles(w.local, { 'mine/draft.txt': 'written on this machine' });
  await w.seed('docs/2024/report.md', '# report, second edition\n');
  await w.seed('new/added.txt', 'added on the bucket', { mtime: '1700000000.125' });
  const before = w.count(['download']);
  const second = await w.run();
  t.is(second.code, 0, second.stderr);
  t.deepEqual(eventPaths(second, 'download'), ['docs/2024/report.md', 'new/added.txt']);
  t.is(w.count(['download']) - before, 2, 'exactly two objects fetched from the domain');
  t.is(await readFile(path.join(w.local, 'docs/2024/report.md'), 'utf8'), '# report, second edition\n');
  t.is(await readFile(path.join(w.local, 'new/added.txt'), 'utf8'), 'added on the bucket');
  t.is(await mtimeMs(path.join(w.local, 'new/added.txt')), 1_700_000_000_125);

  await rm(path.join(w.local, SPECIAL));
  await rm(path.join(w.local, 'media/big.bin'));
  const third = await w.run();
  t.is(third.code, 0, third.stderr);
  t.deepEqual(eventPaths(third, 'download'), ['media/big.bin', SPECIAL].sort());
  t.deepEqual(await readFile(path.join(w.local, 'media/big.bin')), BIG);
  t.is(await readFile(path.join(w.local, SPECIAL), 'utf8'), 'special characters in the key');
  t.is(await mtimeMs(path.join(w.local, 'media/big.bin')), 1_650_000_000_500);

  t.is(summaryOf(await w.run()), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.is(w.count(UPLOAD_OPS), 0, 'nothing was ever uploaded in pull mode');
  t.is(await w.emu.read('kodo', `${PREFIX}/mine/draft.txt`), undefined);
  t.false(await exists(path.join(w.local, 'elsewhere')));

  // The same folder as a two-way pair: local additions go up, equal content is adopted by qetag.
  const twin = randomBytes(4 * 1024 * 1024 + 99);
  await w.seed('twins/big-twin.bin', twin);
  await w.seed('twins/small-twin.txt', 'same on both sides');
  await writeFiles(w.local, { 'twins/big-twin.bin': twin, 'twins/small-twin.txt': 'same on both sides', 'mine/later.txt': 'added after the switch' });
  await utimes(path.join(w.local, 'mine/later.txt'), 1_710_000_000, 1_710_000_000);
  await w.configure({ direction: 'both' });
  const downloads = w.count(['download']);
  const both = await w.run();
  t.is(both.code, 0, both.stderr);
  t.deepEqual(eventPaths(both, 'upload'), ['mine/draft.txt', 'mine/later.txt']);
  t.deepEqual(eventPaths(both, 'download'), []);
  t.is(w.count(['download']), downloads, 'twins were recognised by qetag, not downloaded');
  t.is(w.count(['form']), 2, 'two form uploads, no other upload request');
  t.is(w.count(UPLOAD_OPS), 2);
  t.is((await w.emu.read('kodo', `${PREFIX}/mine/draft.txt`))?.toString(), 'written on this machine');
  t.is((await w.emu.read('kodo', `${PREFIX}/mine/later.txt`))?.toString(), 'added after the switch');
  t.is(summaryOf(await w.run()), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.is(w.count(UPLOAD_OPS), 2);
});

test.serial('a private bucket downloads through signed URLs; without "private" the download is refused with a hint', async (t) => {
  const w = await qiniuWorld(t, { private: true });
  await w.seed('secret/plan.txt', 'for signed eyes only');
  await w.seed('media/big.bin', BIG);

  await w.configure({}, { private: false });
  const unsigned = await w.run();
  t.is(unsigned.code, 1, 'the downloads failed');
  t.regex(unsigned.stderr, /set "private": true/);
  t.deepEqual(await readTree(w.local), {});

  await w.configure({}, { private: true });
  const signed = await w.run();
  t.is(signed.code, 0, signed.stderr);
  t.is(summaryOf(signed), 'uploaded 0, downloaded 2, deleted 0, conflicts 0, failed 0');
  t.is(await readFile(path.join(w.local, 'secret/plan.txt'), 'utf8'), 'for signed eyes only');
  t.deepEqual(await readFile(path.join(w.local, 'media/big.bin')), BIG);
});

test.serial('a wrong secret key: exit 3 (the listing failed), the cause on stderr, nothing changed locally', async (t) => {
  const w = await qiniuWorld(t);
  await w.seed('remote.txt', 'on the bucket');
  await writeFiles(w.local, { 'keep/local.txt': 'local bytes' });
  await w.configure({ direction: 'both' });
  const before = await localFingerprint(w.local);
  const wrong = await w.run({ QINIU_SECRET_KEY: 'not-the-secret' });
  t.is(wrong.code, 3, wrong.stderr);
  t.regex(wrong.stderr, /rejected the access\/secret key/);
  t.regex(wrong.stderr, /did not complete/);
  t.deepEqual(await localFingerprint(w.local), before, 'the local tree is byte-identical (mtimes, inodes)');
  t.false(await exists(w.manifest), 'no manifest written');
  t.is(w.count(UPLOAD_OPS) + w.count(['download']), 0);

  // With a synced manifest, a wrong key still changes nothing, --force included.
  t.is((await w.run()).code, 0);
  const manifest = await readFile(w.manifest);
  const synced = await localFingerprint(w.local);
  const forced = await w.run({ QINIU_SECRET_KEY: 'not-the-secret' }, '--reconcile', '--force');
  t.is(forced.code, 3, forced.stderr);
  t.regex(forced.stderr, /rejected the access\/secret key/);
  t.deepEqual(await localFingerprint(w.local), synced);
  t.deepEqual(await readFile(w.manifest), manifest);
});

test.serial('missing credentials: exit 2 with a message saying where they go', async (t) => {
  const w = await qiniuWorld(t);
  await w.seed('remote.txt', 'on the bucket');
  const none = await w.run({ QINIU_ACCESS_KEY: undefined, QINIU_SECRET_KEY: undefined });
  t.is(none.code, 2, none.stderr);
  t.regex(none.stderr, /no Qiniu credentials.*QINIU_ACCESS_KEY and QINIU_SECRET_KEY.*credentialsFile/);
  const half = await w.run({ QINIU_SECRET_KEY: undefined });
  t.is(half.code, 2, half.stderr);
  t.regex(half.stderr, /QINIU_SECRET_KEY is not set/);
  t.false(await exists(w.local), 'nothing created locally');
  t.is(w.emu.stats().total, 0, 'the service was never asked');
});

test.serial('a credentials file readable by others: exit 2 naming chmod 600; with mode 600 the pass works', async (t) => {
  const w = await qiniuWorld(t);
  await w.seed('remote.txt', 'on the bucket');
  const file = path.join(w.dir, 'qiniu.json');
  await writeFile(file, JSON.stringify({ accessKey: AK, secretKey: SK }));
  await chmod(file, 0o644);
  await w.configure({}, { credentialsFile: './qiniu.json' });
  const envOff = { QINIU_ACCESS_KEY: undefined, QINIU_SECRET_KEY: undefined };
  const open = await w.run(envOff);
  t.is(open.code, 2, open.stderr);
  t.regex(open.stderr, /readable by group or others \(mode 644\); run: chmod 600 /);
  t.false(await exists(w.local));

  await chmod(file, 0o600);
  const ok = await w.run(envOff);
  t.is(ok.code, 0, ok.stderr);
  t.is(await readFile(path.join(w.local, 'remote.txt'), 'utf8'), 'on the bucket');
});
