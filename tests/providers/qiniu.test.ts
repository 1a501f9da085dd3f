// The native Qiniu provider: the shared conformance suite against the local Kodo emulator (real
// SDK, signatures checked), then what only Kodo can get wrong: credentials, private buckets,
// key limits, etag v2 hashes, the SDK's resolved errors and silent "successes".

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import qiniu from 'qiniu';
import { createQiniuProvider, QiniuConfigError, QiniuCredentialsError, type QiniuRemote } from '../../providers/qiniu.js';
import { resolveDomain } from '../../providers/qiniu-client.js';
import { isProviderError, type RemoteProvider } from '../../providers/provider.js';
import { startQiniuEmulator, type QiniuEmulator } from '../helpers/qiniu-emulator.js';
import { tmpDir, writeRandomFile } from '../helpers/tmp.js';
import { conformance, listAll } from './conformance.js';

const KEYS = { accessKey: 'AK-provider-test', secretKey: 'SK-provider-test' };
const ENV = { QINIU_ACCESS_KEY: KEYS.accessKey, QINIU_SECRET_KEY: KEYS.secretKey };

const remoteOf = (emu: QiniuEmulator, extra: Partial<QiniuRemote> = {}): QiniuRemote => ({
  provider: 'qiniu',
  bucket: 'bkt',
  domain: emu.domains.bkt as string,
  hosts: { up: emu.hosts.up, rs: emu.hosts.rs, rsf: emu.hosts.rsf },
  ...extra,
});

// A prefix without its slash, next to a sibling that shares its first letters and an object at
// the root: neither may show up in the remote the suite sees.
conformance('qiniu', async () => {
  const emu = await startQiniuEmulator({ ...KEYS, buckets: ['bkt'] });
  await emu.seed('bkt', 'outside.txt', 'not under the prefix');
  await emu.seed('bkt', 'backupsX/sibling.txt', 'shares the prefix letters only');
  const provider = await createQiniuProvider(remoteOf(emu, { prefix: 'backups' }), ENV);
  return { provider, cleanup: () => emu.stop() };
});

interface Fixture {
  readonly emu: QiniuEmulator;
  readonly dir: string;
  provider(extra?: Partial<QiniuRemote>, env?: NodeJS.ProcessEnv): Promise<RemoteProvider>;
  /** Writes a local file and returns its path. */
  file(name: string, content: string | Buffer): Promise<string>;
}

async function fixture(t: ExecutionContext, opts: { privateBuckets?: string[]; listPageSize?: number; keepAliveTimeoutMs?: number } = {}): Promise<Fixture> {
  const emu = await startQiniuEmulator({ ...KEYS, buckets: ['bkt', 'private-bkt'], ...opts });
  const dir = await tmpDir('sync-agent-qiniu-');
  const providers: RemoteProvider[] = [];
  t.teardown(async () => {
    for (const p of providers) await p.close?.();
    await emu.stop();
    await dir.cleanup();
  });
  return {
    emu,
    dir: dir.path,
    async provider(extra = {}, env = ENV) {
      const p = await createQiniuProvider(remoteOf(emu, extra), env);
      providers.push(p);
      return p;
    },
    async file(name, content) {
      const f = path.join(dir.path, name);
      await writeFile(f, content);
      return f;
    },
  };
}

const kindOf = (e: unknown): string | undefined => (isProviderError(e) ? e.kind : undefined);

test('qiniu: a wrong secret key is an auth error that names the cause', async (t) => {
  const f = await fixture(t);
  await f.emu.seed('bkt', 'a.txt', 'a');
  const p = await f.provider({}, { QINIU_ACCESS_KEY: KEYS.accessKey, QINIU_SECRET_KEY: 'not-the-secret' });
  const listErr = await t.throwsAsync(listAll(p));
  t.is(kindOf(listErr), 'auth');
  t.regex(listErr?.message ?? '', /rejected the access\/secret key.*401 bad token.*QINIU_SECRET_KEY/);
  t.false(listErr?.message.includes('not-the-secret'), 'the secret is never in a message');
  const upErr = await t.throwsAsync(p.upload('b.txt', await f.file('b', 'b'), { mtimeMs: Date.now(), size: 1 }));
  t.is(kindOf(upErr), 'auth');
  t.is(await f.emu.read('bkt', 'b.txt'), undefined);
});

test('qiniu: a credentials file readable by others is refused; mode 600 works; env wins', async (t) => {
  const f = await fixture(t);
  const creds = await f.file('qiniu.json', JSON.stringify(KEYS));
  await chmod(creds, 0o644);
  const err = await t.throwsAsync(createQiniuProvider(remoteOf(f.emu, { credentialsFile: creds }), {}), { instanceOf: QiniuCredentialsError });
  t.regex(err?.message ?? '', /readable by group or others \(mode 644\); run: chmod 600 /);
  t.false(err?.message.includes(KEYS.secretKey));

  await chmod(creds, 0o600);
  const p = await f.provider({ credentialsFile: creds }, {});
  await p.upload('x.txt', await f.file('x', 'from file creds'), { mtimeMs: Date.now(), size: 15 });
  t.is((await f.emu.read('bkt', 'x.txt'))?.toString(), 'from file creds');

  // Env variables win even over an unreadable file.
  const fromEnv = await f.provider({ credentialsFile: path.join(f.dir, 'missing.json') });
  t.deepEqual((await listAll(fromEnv)).objects.map((o) => o.path), ['x.txt']);
});

test('qiniu: no credentials at all names both ways to give them', async (t) => {
  const f = await fixture(t);
  const none = await t.throwsAsync(createQiniuProvider(remoteOf(f.emu), {}), { instanceOf: QiniuCredentialsError });
  t.regex(none?.message ?? '', /QINIU_ACCESS_KEY and QINIU_SECRET_KEY.*credentialsFile/);
  const half = await t.throwsAsync(createQiniuProvider(remoteOf(f.emu), { QINIU_ACCESS_KEY: 'x' }), { instanceOf: QiniuCredentialsError });
  t.regex(half?.message ?? '', /QINIU_SECRET_KEY is not set/);
  const bad = await f.file('bad.json', '{"accessKey": "only"}');
  await chmod(bad, 0o600);
  const partial = await t.throwsAsync(createQiniuProvider(remoteOf(f.emu, { credentialsFile: bad }), {}), { instanceOf: QiniuCredentialsError });
  t.regex(partial?.message ?? '', /"accessKey" and "secretKey"/);
});

test('qiniu: a private bucket downloads through signed URLs', async (t) => {
  const f = await fixture(t, { privateBuckets: ['private-bkt'] });
  const domain = f.emu.domains['private-bkt'] as string;
  const p = await f.provider({ bucket: 'private-bkt', domain, private: true });
  const up = await p.upload('secret dir/ü+1.txt', await f.file('s', 'top secret'), { mtimeMs: Date.now(), size: 10 });
  const dest = path.join(f.dir, 'dest');
  const got = await p.download('secret dir/ü+1.txt', dest);
  t.is(await readFile(dest, 'utf8'), 'top secret');
  t.is(got.token, up.token);
  // The same object is not served without a signature.
  t.is((await fetch(`${domain}/secret%20dir/${encodeURIComponent('ü+1.txt')}`)).status, 401);
  const unsigned = await f.provider({ bucket: 'private-bkt', domain });
  const err = await t.throwsAsync(unsigned.download('secret dir/ü+1.txt', dest));
  t.is(kindOf(err), 'auth');
  t.regex(err?.message ?? '', /set "private": true/);
});

test('qiniu: keys over 750 bytes are refused clearly, before any request', async (t) => {
  const f = await fixture(t);
  const p = await f.provider({ prefix: 'pre' });
  const src = await f.file('long', 'x');
  const before = f.emu.stats().total;
  const fits = `${'a'.repeat(746)}`; // 'pre/' + 746 = 750 bytes
  await p.upload(fits, src, { mtimeMs: Date.now(), size: 1 });
  t.is((await f.emu.read('bkt', `pre/${fits}`))?.toString(), 'x');
  const tooLong = `${'é'.repeat(373)}x`; // 747 bytes + 'pre/' = 751
  for (const call of [() => p.upload(tooLong, src, { mtimeMs: Date.now(), size: 1 }), () => p.stat(tooLong), () => p.delete(tooLong)]) {
    const err = await t.throwsAsync(call());
    t.is(kindOf(err), 'invalid-key');
    t.regex(err?.message ?? '', /751 bytes \(prefix included\); Kodo allows at most 750/);
  }
  const failed = await p.deleteMany?.([tooLong, fits]);
  t.is(kindOf(failed?.get(tooLong)), 'invalid-key');
  t.false(failed?.has(fits));
  t.is(f.emu.stats().total - before, 2, 'one upload and one batch reached the service');
});

test('qiniu: an etag-v2 object lists with a token but no comparable hash, and still downloads', async (t) => {
  const f = await fixture(t);
  const data = await writeRandomFile(path.join(f.dir, 'nine.bin'), 9 * 1024 * 1024);
  // Uploaded by another tool with 8 MiB parts: Kodo's hash is then etag v2 ('n…').
  const u = new URL(f.emu.apiUrl);
  const ep = new qiniu.httpc.Endpoint(u.host, { defaultScheme: 'http' });
  const config = new qiniu.conf.Config({ regionsProvider: new qiniu.httpc.Region({ services: { up: [ep] } }), useHttpsDomain: false });
  const mac = new qiniu.auth.digest.Mac(KEYS.accessKey, KEYS.secretKey);
  const extra = qiniu.resume_up.PutExtra.create('nine.bin', {}, undefined, undefined, undefined, 8 * 1024 * 1024, 'v2');
  const r = await new qiniu.resume_up.ResumeUploader(config).putFileV2(new qiniu.rs.PutPolicy({ scope: 'bkt:odd.bin' }).uploadToken(mac), 'odd.bin', path.join(f.dir, 'nine.bin'), extra);
  t.regex(String(r.data.hash), /^n/);
  const p = await f.provider();
  const [listed] = (await listAll(p)).objects;
  t.is(listed?.token, r.data.hash);
  t.is(listed?.hash, undefined, 'etag v2 is not a qetag of the bytes');
  const dest = path.join(f.dir, 'dest');
  await p.download('odd.bin', dest);
  t.true((await readFile(dest)).equals(data));
  // Our own large uploads use 4 MiB parts, so they keep a plain, comparable qetag.
  const ours = await p.upload('ours.bin', path.join(f.dir, 'nine.bin'), { mtimeMs: Date.now(), size: data.length });
  t.regex(ours.token, /^l/);
  t.is(ours.hash, ours.token);
});

test('qiniu: an object replaced between stat and GET fails the download as transient', async (t) => {
  const f = await fixture(t);
  await f.emu.seed('bkt', 'doc.txt', 'old version');
  const p = await f.provider();
  const dest = path.join(f.dir, 'dest');
  const gate = f.emu.faults.hold('download');
  const download = p.download('doc.txt', dest);
  download.catch(() => undefined); // awaited below
  await gate.arrived; // the provider has its token from stat and is now fetching the bytes
  await f.emu.seed('bkt', 'doc.txt', 'new version');
  gate.release();
  const err = await t.throwsAsync(download);
  t.is(kindOf(err), 'transient');
  t.regex(err?.message ?? '', /changed during the download/);
  const again = await p.download('doc.txt', dest);
  t.is(await readFile(dest, 'utf8'), 'new version');
  t.is((await p.stat('doc.txt'))?.token, again.token);
});

test('qiniu: a listing page that keeps failing throws instead of ending the listing early', async (t) => {
  const f = await fixture(t, { listPageSize: 2 });
  for (const k of ['a', 'b', 'c', 'd', 'e']) await f.emu.seed('bkt', k, k);
  const p = await f.provider();
  const seen: string[] = [];
  const err = await t.throwsAsync(async () => {
    for await (const page of p.list()) {
      seen.push(...page.map((o) => o.path));
      // One attempt plus the provider's four retries: every one of them fails.
      f.emu.faults.failNext(503, 5, 'list');
    }
  });
  t.is(kindOf(err), 'transient');
  t.deepEqual(seen, ['a', 'b']);
  t.deepEqual((await listAll(p)).objects.map((o) => o.path), ['a', 'b', 'c', 'd', 'e'], 'pages of 2, all objects');
});

test('qiniu: a listing page that fails once is retried and the listing completes', async (t) => {
  const f = await fixture(t, { listPageSize: 2 });
  for (const k of ['a', 'b', 'c', 'd', 'e']) await f.emu.seed('bkt', k, k);
  const p = await f.provider();
  const seen: string[] = [];
  for await (const page of p.list()) {
    seen.push(...page.map((o) => o.path));
    if (seen.length === 2) f.emu.faults.failNext(503, 1, 'list');
  }
  t.deepEqual(seen, ['a', 'b', 'c', 'd', 'e']);
});

test('qiniu: HTTP errors the SDK resolves become the right ProviderError kinds', async (t) => {
  const f = await fixture(t);
  const p = await f.provider();
  const src = await f.file('s', 'data');
  const cases: [number, string][] = [[503, 'transient'], [573, 'transient'], [403, 'denied'], [631, 'denied'], [401, 'auth'], [400, 'other']];
  for (const [status, kind] of cases) {
    f.emu.faults.failNext(status, 1, 'form');
    const err = await t.throwsAsync(p.upload('s.txt', src, { mtimeMs: Date.now(), size: 4 }));
    t.is(kindOf(err), kind, `upload answered ${status}`);
  }
  f.emu.faults.failNext(631, 1, 'stat');
  const noBucket = await t.throwsAsync(p.stat('s.txt'));
  t.regex(noBucket?.message ?? '', /no such bucket "bkt"/);
  t.is(await f.emu.read('bkt', 's.txt'), undefined);
  const missingBucket = await f.provider({ bucket: 'nope' });
  t.is(kindOf(await t.throwsAsync(listAll(missingBucket))), 'denied');
});

test('qiniu: a resumable upload the SDK abandons is not mistaken for success', async (t) => {
  const f = await fixture(t);
  const p = await f.provider();
  const src = path.join(f.dir, 'big.bin');
  await writeRandomFile(src, 6 * 1024 * 1024);
  // A part answer without md5 (status 200): the SDK stops and resolves 200 with that body.
  f.emu.faults.failNext(200, 1, 'v2-part');
  const err = await t.throwsAsync(p.upload('big.bin', src, { mtimeMs: Date.now(), size: 6 * 1024 * 1024 }));
  t.is(kindOf(err), 'transient');
  t.regex(err?.message ?? '', /did not confirm the upload/);
  t.is(await p.stat('big.bin'), undefined);
  await p.upload('big.bin', src, { mtimeMs: Date.now(), size: 6 * 1024 * 1024 });
  t.true((await f.emu.read('bkt', 'big.bin'))?.equals(await readFile(src)));
});

test('qiniu: deleteMany batches by 1000 and reports a failed batch per path', async (t) => {
  const f = await fixture(t);
  const keys = Array.from({ length: 1203 }, (_, i) => `k/${i}`);
  for (const k of keys) await f.emu.seed('bkt', k, 'x');
  const p = await f.provider();
  f.emu.faults.failNext(503, 1, 'batch');
  const failed = await p.deleteMany?.(keys);
  t.is(failed?.size, 1000, 'the first batch failed as a whole');
  t.true([...(failed?.values() ?? [])].every((e) => e.kind === 'transient'));
  t.is((await listAll(p)).objects.length, 1000, 'the second batch deleted its 203');
  t.is((await p.deleteMany?.(keys))?.size, 0);
  t.is((await listAll(p)).objects.length, 0);
  t.is(f.emu.stats().byOp.batch, 4);
});

test('qiniu: config details: remoteId and prefix forms, domain scheme, mixed host schemes', async (t) => {
  const f = await fixture(t);
  const a = await f.provider({ prefix: 'backups' });
  const b = await f.provider({ prefix: 'backups/' });
  t.deepEqual({ ...a.features }, { name: 'qiniu', hash: 'qetag', remoteId: 'qiniu:bkt/backups/' });
  t.is(b.features.remoteId, a.features.remoteId);
  t.is((await f.provider()).features.remoteId, 'qiniu:bkt/');
  t.is(resolveDomain('cdn.example.com'), 'https://cdn.example.com');
  t.is(resolveDomain('http://127.0.0.1:9/'), 'http://127.0.0.1:9');
  const mixed = { up: 'https://up.example.com', rs: f.emu.hosts.rs, rsf: f.emu.hosts.rsf };
  await t.throwsAsync(createQiniuProvider(remoteOf(f.emu, { hosts: mixed }), ENV), { instanceOf: QiniuConfigError, message: /same scheme/ });
});

test('qiniu: a process that used the provider exits on its own after close()', async (t) => {
  // Idle connections stay open on the server side for 10 minutes: only a client that lets go
  // of its sockets (unref'd or destroyed) can exit.
  const f = await fixture(t, { keepAliveTimeoutMs: 600_000 });
  await f.emu.seed('bkt', 'a.txt', 'hello');
  const provider = fileURLToPath(new URL('../../providers/qiniu.ts', import.meta.url));
  const script = `const { createQiniuProvider } = await import(process.argv[1]);
    const p = await createQiniuProvider(JSON.parse(process.argv[2]), process.env);
    for await (const _ of p.list());
    await p.download('a.txt', process.argv[3]);
    await p.upload('b.txt', process.argv[3], { mtimeMs: Date.now(), size: 5 });
    await p.close();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, provider, JSON.stringify(remoteOf(f.emu)), path.join(f.dir, 'dl')], {
    cwd: path.dirname(path.dirname(provider)),
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = setTimeout(() => child.kill(), 60_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(deadline);
  t.is(signal, null, 'still running after 60 s: something keeps the event loop alive');
  t.is(code, 0);
  t.is((await f.emu.read('bkt', 'b.txt'))?.toString(), 'hello');
});
