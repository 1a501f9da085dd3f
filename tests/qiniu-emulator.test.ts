// The Qiniu emulator must accept exactly what the real service accepts: the documented signature
// and token vectors (qiniu-protocol.md §3), the real SDK's requests, and the service's refusals.

import test from 'ava';
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import qiniu from 'qiniu';
import { encodeEntry, hmacSha1B64 } from './helpers/qiniu-emulator/codec.js';
import { startQiniuEmulator, verifyManagement, verifyPrivateDownload, verifyUploadToken, type QiniuEmulator } from './helpers/qiniu-emulator.js';
import { tmpDir } from './helpers/tmp.js';

const V = { accessKey: 'testAK', secretKey: 'testSK' };
const VECTOR_NOW = Date.UTC(2023, 10, 14, 22, 13, 20);
const mgmtHeaders = (host: string, authorization: string) => ({
  host,
  'content-type': 'application/x-www-form-urlencoded',
  'x-qiniu-date': '20231114T221320Z',
  authorization,
});

test('EncodedEntryURI vectors', (t) => {
  t.is(encodeEntry('bkt', 'a.txt'), 'Ymt0OmEudHh0');
  t.is(encodeEntry('bkt', '目录/ü.txt'), 'Ymt0OuebruW9lS_DvC50eHQ=');
  t.is(qiniu.util.encodedEntry('bkt', '目录/ü.txt'), 'Ymt0OuebruW9lS_DvC50eHQ=');
});

test('upload token vector: derived the same way, accepted before its deadline', (t) => {
  const encoded = 'eyJzY29wZSI6ImJrdDphLnR4dCIsImRlYWRsaW5lIjoxNzAwMDAwMDAwfQ==';
  const token = `testAK:LDiwSufXivf6nkvIi4f96kKqKuI=:${encoded}`;
  t.is(Buffer.from(JSON.stringify({ scope: 'bkt:a.txt', deadline: 1700000000 })).toString('base64'), encoded);
  t.is(`testAK:${hmacSha1B64('testSK', encoded)}:${encoded}`, token);
  const ok = verifyUploadToken(token, V, 1_699_999_000_000);
  t.deepEqual(ok.refusal ? undefined : ok.policy, { scope: 'bkt:a.txt', deadline: 1700000000 });
  t.deepEqual(verifyUploadToken(token, V, 1_700_000_001_000).refusal, { status: 401, error: 'token out of date' });
  t.deepEqual(verifyUploadToken(token, { ...V, secretKey: 'other' }, 1_699_999_000_000).refusal, { status: 401, error: 'bad token' });
  t.deepEqual(verifyUploadToken(undefined, V).refusal, { status: 401, error: 'token not specified' });
});

test('management signature vectors are accepted, including the SDK doubled-port Host', (t) => {
  const get = (host: string, auth: string) => ({ method: 'GET', url: '/stat/Ymt0OmEudHh0', headers: mgmtHeaders(host, auth), body: Buffer.alloc(0) });
  const at = { nowMs: VECTOR_NOW };
  t.is(verifyManagement(get('rs.example.com', 'Qiniu testAK:9zsYCO4QcpQyStAcuwKKNE9gwSE='), V, at), undefined);
  t.is(verifyManagement(get('127.0.0.1:9000', 'Qiniu testAK:LxthLn8HVe0lue7aFJWruESzp2c='), V, at), undefined);
  t.is(verifyManagement(get('rs.example.com', 'QBox testAK:lV2h4avI_v2qDxF3-W4-vfFUCzI='), V, at), undefined);
  const batch = {
    method: 'POST',
    url: '/batch',
    headers: mgmtHeaders('rs.example.com', 'Qiniu testAK:e-FH4ENfLTZgFZmyTNKWxZMMMRU='),
    body: Buffer.from('op=%2Fdelete%2FYmt0OmEudHh0'),
  };
  t.is(verifyManagement(batch, V, at), undefined);
});

test('management signatures: single-port Host accepted; wrong key, tampering and skew refused', (t) => {
  const at = { nowMs: VECTOR_NOW };
  // The form other SDKs sign: Host exactly as sent.
  const text = 'GET /stat/Ymt0OmEudHh0\nHost: 127.0.0.1:9000\nContent-Type: application/x-www-form-urlencoded\nX-Qiniu-Date: 20231114T221320Z\n\n';
  const single = `Qiniu testAK:${createHmac('sha1', 'testSK').update(text).digest('base64url')}=`;
  const req = (auth: string, url = '/stat/Ymt0OmEudHh0') => ({ method: 'GET', url, headers: mgmtHeaders('127.0.0.1:9000', auth), body: Buffer.alloc(0) });
  t.is(verifyManagement(req(single), V, at), undefined);
  const vector = 'Qiniu testAK:LxthLn8HVe0lue7aFJWruESzp2c=';
  t.deepEqual(verifyManagement(req(vector), { ...V, secretKey: 'nope' }, at), { status: 401, error: 'bad token' });
  t.deepEqual(verifyManagement(req(vector, '/stat/Ymt0OmIudHh0'), V, at), { status: 401, error: 'bad token' });
  t.deepEqual(verifyManagement(req(''), V, at), { status: 401, error: 'bad token' });
  t.deepEqual(verifyManagement(req(vector), V, { nowMs: VECTOR_NOW + 16 * 60_000 }), { status: 403, error: 'request time too skewed' });
});

test('private download URL vector: the SDK builds it, the verifier accepts it until e', (t) => {
  const bm = new qiniu.rs.BucketManager(new qiniu.auth.digest.Mac('testAK', 'testSK'), new qiniu.conf.Config());
  const url = bm.privateDownloadUrl('http://cdn.example.com', 'a.txt', 1700000000);
  t.is(url, 'http://cdn.example.com/a.txt?e=1700000000&token=testAK:FzdkAcm9fkBQb8Bx-6NgRXqtSZg=');
  const raw = url.slice('http://cdn.example.com'.length);
  t.is(verifyPrivateDownload(raw, 'cdn.example.com', V, 1_699_999_000_000), undefined);
  t.deepEqual(verifyPrivateDownload(raw, 'cdn.example.com', V, 1_700_000_001_000), { status: 401, error: 'token out of date' });
  t.deepEqual(verifyPrivateDownload(raw, 'cdn.example.com', { ...V, secretKey: 'x' }, 1_699_999_000_000), { status: 401, error: 'download token auth failed' });
  t.deepEqual(verifyPrivateDownload('/a.txt', 'cdn.example.com', V), { status: 401, error: 'download token not specified' });
});

// ---- Through HTTP with the real SDK ----

const KEYS = { accessKey: 'AK-emu', secretKey: 'SK-emu' };

async function sdkAgainst(emu: QiniuEmulator, secretKey = KEYS.secretKey) {
  const u = new URL(emu.apiUrl);
  const ep = new qiniu.httpc.Endpoint(u.host, { defaultScheme: 'http' });
  const region = new qiniu.httpc.Region({ regionId: 'emu', services: { up: [ep], rs: [ep], rsf: [ep], api: [ep], io: [ep], uc: [ep] } });
  const config = new qiniu.conf.Config({ regionsProvider: region, useHttpsDomain: false });
  const mac = new qiniu.auth.digest.Mac(KEYS.accessKey, secretKey);
  const token = (policy: qiniu.rs.PutPolicyOptions) => new qiniu.rs.PutPolicy(policy).uploadToken(mac);
  return { mac, bm: new qiniu.rs.BucketManager(mac, config), form: new qiniu.form_up.FormUploader(config), resume: new qiniu.resume_up.ResumeUploader(config), token };
}

async function withEmulator(t: { teardown(fn: () => Promise<void>): void }, extra: { privateBuckets?: string[]; listPageSize?: number } = {}) {
  const emu = await startQiniuEmulator({ ...KEYS, buckets: ['bkt', 'other'], ...extra });
  t.teardown(() => emu.stop());
  return emu;
}

test('a wrong secret key gets 401 bad token from management and upload calls', async (t) => {
  const emu = await withEmulator(t);
  await emu.seed('bkt', 'a.txt', 'hello');
  const bad = await sdkAgainst(emu, 'wrong-secret');
  const stat = await bad.bm.stat('bkt', 'a.txt');
  t.is(stat.resp.statusCode, 401);
  t.is(stat.data.error, 'bad token');
  const up = await bad.form.put(bad.token({ scope: 'bkt:b.txt' }), 'b.txt', Buffer.from('x'), null);
  t.is(up.resp.statusCode, 401);
  t.is((up.data as { error: string }).error, 'bad token');
  t.is(await emu.read('bkt', 'b.txt'), undefined);
  const good = await sdkAgainst(emu);
  t.is((await good.bm.stat('bkt', 'a.txt')).data.hash, 'Fqr0xh3cxeii2r7eDztILNmuqUNN');
});

test('upload tokens: other scope 403, expired 401, unknown bucket 631', async (t) => {
  const emu = await withEmulator(t);
  const sdk = await sdkAgainst(emu);
  const other = await sdk.form.put(sdk.token({ scope: 'bkt:allowed.txt' }), 'elsewhere.txt', Buffer.from('x'), null);
  t.is(other.resp.statusCode, 403);
  t.is((other.data as { error: string }).error, "key doesn't match scope");
  const expired = await sdk.form.put(sdk.token({ scope: 'bkt:a.txt', expires: -10 }), 'a.txt', Buffer.from('x'), null);
  t.is(expired.resp.statusCode, 401);
  t.is((expired.data as { error: string }).error, 'token out of date');
  const noBucket = await sdk.form.put(sdk.token({ scope: 'nope:a.txt' }), 'a.txt', Buffer.from('x'), null);
  t.is(noBucket.resp.statusCode, 631);
  t.is(await emu.read('bkt', 'elsewhere.txt'), undefined);
});

test('overwrite rules: scope bucket form uploads are insert-only, bucket:key overwrites, insertOnly forbids', async (t) => {
  const emu = await withEmulator(t);
  const sdk = await sdkAgainst(emu);
  const put = (policy: qiniu.rs.PutPolicyOptions, body: string) => sdk.form.put(sdk.token(policy), 'k.txt', Buffer.from(body), null);
  t.is((await put({ scope: 'bkt' }, 'one')).resp.statusCode, 200);
  t.is((await put({ scope: 'bkt' }, 'one')).resp.statusCode, 200, 'same content is accepted');
  t.is((await put({ scope: 'bkt' }, 'two')).resp.statusCode, 614);
  t.is((await emu.read('bkt', 'k.txt'))?.toString(), 'one');
  t.is((await put({ scope: 'bkt:k.txt' }, 'two')).resp.statusCode, 200);
  t.is((await emu.read('bkt', 'k.txt'))?.toString(), 'two');
  t.is((await put({ scope: 'bkt:k.txt', insertOnly: 1 }, 'three')).resp.statusCode, 614);
  t.is((await emu.read('bkt', 'k.txt'))?.toString(), 'two');
});

test('stat, delete, move and copy answer 612, 614 and 631 like the service', async (t) => {
  const emu = await withEmulator(t);
  const { bm } = await sdkAgainst(emu);
  await emu.seed('bkt', 'a', 'A');
  await emu.seed('bkt', 'b', 'B');
  t.is((await bm.stat('bkt', 'missing')).resp.statusCode, 612);
  t.is((await bm.stat('nope', 'a')).resp.statusCode, 631);
  t.is((await bm.move('bkt', 'a', 'bkt', 'b', null)).resp.statusCode, 614);
  t.is((await bm.copy('bkt', 'a', 'bkt', 'b', { force: true })).resp.statusCode, 200);
  t.is((await emu.read('bkt', 'b'))?.toString(), 'A');
  t.is((await bm.move('bkt', 'a', 'other', 'moved', null)).resp.statusCode, 200);
  t.is(await emu.read('bkt', 'a'), undefined);
  t.is((await emu.read('other', 'moved'))?.toString(), 'A');
  t.is((await bm.move('bkt', 'a', 'bkt', 'c', null)).resp.statusCode, 612);
  t.is((await bm.delete('bkt', 'b')).resp.statusCode, 200);
  t.is((await bm.delete('bkt', 'b')).resp.statusCode, 612);
});

test('batch answers per op, 298 when some failed', async (t) => {
  const emu = await withEmulator(t);
  const { bm } = await sdkAgainst(emu);
  await emu.seed('bkt', 'x', 'hello', { mtime: '1700000000.5' });
  const r = await bm.batch([qiniu.rs.statOp('bkt', 'x'), qiniu.rs.deleteOp('bkt', 'gone'), qiniu.rs.deleteOp('bkt', 'x')]);
  t.is(r.resp.statusCode, 298);
  const codes = r.data.map((o: { code: number }) => o.code);
  t.deepEqual(codes, [200, 612, 200]);
  t.like(r.data[0], { data: { hash: 'Fqr0xh3cxeii2r7eDztILNmuqUNN', fsize: 5, 'x-qn-meta': { mtime: '1700000000.5' } } });
  t.is(await emu.read('bkt', 'x'), undefined);
  const all = await bm.batch([qiniu.rs.deleteOp('bkt', 'gone')]);
  t.is(all.resp.statusCode, 298);
});

test('listing: UTF-8 byte order, opaque markers through short pages, prefixes', async (t) => {
  const emu = await withEmulator(t, { listPageSize: 2 });
  const { bm } = await sdkAgainst(emu);
  // UTF-16 order would put 😀 (D83D) before ｚ (FF5A); UTF-8 bytes put ｚ (EF) before 😀 (F0).
  const keys = ['p/😀', 'p/ｚ', 'p/a', 'p/Z', 'p/é', 'q/outside', 'p/a b'];
  for (const k of keys) await emu.seed('bkt', k, k);
  const seen: string[] = [];
  let marker = '';
  let pages = 0;
  do {
    const r = await bm.listPrefix('bkt', { prefix: 'p/', marker, limit: 1000 });
    t.is(r.resp.statusCode, 200);
    t.true(r.data.items.length <= 2);
    seen.push(...r.data.items.map((i) => i.key));
    marker = r.data.marker ?? '';
    pages += 1;
  } while (marker !== '');
  t.deepEqual(seen, ['p/Z', 'p/a', 'p/a b', 'p/é', 'p/ｚ', 'p/😀']);
  t.is(pages, 3);
  t.is((await bm.listPrefix('bkt', { prefix: '', marker: 'not-a-marker' })).resp.statusCode, 640);
  t.is((await bm.listPrefix('nope', { prefix: '' })).resp.statusCode, 631);
});

test('resumable uploads: v2 with 4 MiB parts gives the plain qetag, odd parts give etag v2, v1 works', async (t) => {
  const emu = await withEmulator(t);
  const sdk = await sdkAgainst(emu);
  const dir = await tmpDir();
  t.teardown(dir.cleanup);
  const file = path.join(dir.path, 'nine.bin');
  const data = Buffer.alloc(9 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = i % 256;
  await writeFile(file, data);
  const put = (key: string, extra: qiniu.resume_up.PutExtra | null, v2 = true) =>
    (v2 ? sdk.resume.putFileV2 : sdk.resume.putFile).call(sdk.resume, sdk.token({ scope: `bkt:${key}` }), key, file, extra);
  const plain = await put('v2-4m', qiniu.resume_up.PutExtra.create('nine.bin', {}, undefined, undefined, undefined, 4 * 1024 * 1024, 'v2', { 'x-qn-meta-mtime': '12.5' }));
  t.is(plain.resp.statusCode, 200);
  t.deepEqual(plain.data, { hash: 'ljlanhukeOaPUVX4zvhETyfDHcT4', key: 'v2-4m' });
  t.true((await emu.read('bkt', 'v2-4m'))?.equals(data), 'stored bytes equal the file');
  t.like((await sdk.bm.stat('bkt', 'v2-4m')).data, { fsize: data.length, 'x-qn-meta': { mtime: '12.5' } });
  const odd = await put('v2-8m', qiniu.resume_up.PutExtra.create('nine.bin', {}, undefined, undefined, undefined, 8 * 1024 * 1024, 'v2'));
  t.is(odd.data.hash, 'ntjxe1D6--0FH4GTzGKSQaU9u7y4');
  const v1 = await put('v1', null, false);
  t.deepEqual(v1.data, { hash: 'ljlanhukeOaPUVX4zvhETyfDHcT4', key: 'v1' });
  t.true((await emu.read('bkt', 'v1'))?.equals(data), 'stored bytes equal the file');
});

test('downloads: public by plain URL; private only with a valid signature', async (t) => {
  const emu = await withEmulator(t, { privateBuckets: ['other'] });
  const { bm } = await sdkAgainst(emu);
  await emu.seed('bkt', 'a+b&c=d%20e#f?.txt', 'public');
  await emu.seed('other', 'dir/ü.txt', 'secret');
  const pub = await fetch(`${emu.domains.bkt}/${encodeURIComponent('a+b&c=d%20e#f?.txt')}`);
  t.is(pub.status, 200);
  t.is(await pub.text(), 'public');
  t.is((await fetch(`${emu.domains.bkt}/missing`)).status, 404);
  const domain = emu.domains.other as string;
  const plain = await fetch(`${domain}/dir/${encodeURIComponent('ü.txt')}`);
  t.is(plain.status, 401);
  t.deepEqual(await plain.json(), { error: 'download token not specified' });
  const signed = bm.privateDownloadUrl(domain, `dir/${encodeURIComponent('ü.txt')}`, Math.floor(Date.now() / 1000) + 3600);
  const ok = await fetch(signed);
  t.is(ok.status, 200);
  t.is(await ok.text(), 'secret');
  const expired = bm.privateDownloadUrl(domain, `dir/${encodeURIComponent('ü.txt')}`, Math.floor(Date.now() / 1000) - 10);
  t.is((await fetch(expired)).status, 401);
  const forged = new qiniu.rs.BucketManager(new qiniu.auth.digest.Mac(KEYS.accessKey, 'wrong'), new qiniu.conf.Config());
  t.is((await fetch(forged.privateDownloadUrl(domain, 'dir/x', Math.floor(Date.now() / 1000) + 60))).status, 401);
});

test('faults: failNext answers the chosen status to the chosen op, then the service recovers', async (t) => {
  const emu = await withEmulator(t);
  const { bm } = await sdkAgainst(emu);
  await emu.seed('bkt', 'a', 'A');
  emu.faults.failNext(503, 2, 'stat');
  t.is((await bm.listPrefix('bkt', {})).resp.statusCode, 200, 'other ops are not affected');
  t.is((await bm.stat('bkt', 'a')).resp.statusCode, 503);
  t.is((await bm.stat('bkt', 'a')).resp.statusCode, 503);
  t.is((await bm.stat('bkt', 'a')).resp.statusCode, 200);
  t.is(emu.stats().byOp.stat, 3);
  t.is(emu.stats().byStatus[503], 2);
});
