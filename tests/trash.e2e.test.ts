// deletes: "trash" through the CLI against the real S3 server: every deleted or overwritten
// version lands in the trash (remote: `.sync-agent-trash/<stamp>/<path>` by server-side copy;
// local: `<stateDir>/trash/<pair>/<stamp>/<path>`), is never synced, and `sync-agent trash
// list` / `trash restore` bring it back without overwriting anything.

import test, { type ExecutionContext } from 'ava';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { summaryOf } from './helpers/cli.js';
import { readTree } from './helpers/tmp.js';
import { createWorld, inBatches, type World, type WorldOptions } from './helpers/world.js';
import { passStamp } from '../agent/local-fs.js';

let server: S3Server;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

const TRASH = '.sync-agent-trash';
const STAMP = /^\d{8}-\d{6}$/;

interface Listed {
  pair: string;
  side: 'local' | 'remote';
  stamp: string;
  path: string;
  size: number;
}

/** A trash-mode world with `files` synced on both sides. */
async function synced(t: ExecutionContext, files: Record<string, string>, opts: WorldOptions = {}): Promise<World> {
  const w = await createWorld(server, { ...opts, pair: { deletes: 'trash', ...opts.pair } });
  t.teardown(() => w.cleanup());
  for (const [p, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(w.local, p)), { recursive: true });
    await writeFile(path.join(w.local, p), body);
  }
  const first = await w.run();
  t.is(first.code, 0, first.stderr);
  return w;
}

/** Remote trash keys as `stamp/path`. */
const remoteTrash = async (w: World): Promise<string[]> => (await w.keys()).filter((k) => k.startsWith(`${TRASH}/`)).map((k) => k.slice(TRASH.length + 1));
const localTrash = async (w: World): Promise<Record<string, string>> => readTree(path.join(w.stateDir, 'trash', 'main')).catch(() => ({}));

async function trashList(t: ExecutionContext, w: World): Promise<Listed[]> {
  const r = await w.run('trash', 'list', '--json');
  t.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Listed[];
}

// Serial: it reads the server's request counters, so no other test may talk to the server meanwhile.
test.serial('a local delete moves the remote version into the remote trash by server-side copy', async (t) => {
  const w = await synced(t, { 'docs/a.txt': 'version one', 'b.txt': 'b' });
  await rm(path.join(w.local, 'docs/a.txt'));
  await server.resetStats();
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 1, conflicts 0, failed 0');
  const stats = await server.stats();
  t.is(stats.puts, 0, 'no upload: the bytes never left the server');
  t.is(stats.copies, 1);
  const trashed = await remoteTrash(w);
  t.is(trashed.length, 1);
  const [stamp, ...rest] = (trashed[0] ?? '').split('/');
  t.regex(stamp ?? '', STAMP);
  t.is(rest.join('/'), 'docs/a.txt');
  t.is((await w.get(`${TRASH}/${trashed[0]}`))?.toString(), 'version one');
  t.deepEqual((await w.keys()).filter((k) => !k.startsWith(TRASH)), ['b.txt']);
});

test('a remote delete moves the local version into <stateDir>/trash/<pair>/<stamp>/<path>', async (t) => {
  const w = await synced(t, { 'deep/er/c.txt': 'local bytes', 'keep.txt': 'k' });
  await w.del('deep/er/c.txt');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 0, downloaded 0, deleted 1, conflicts 0, failed 0');
  t.deepEqual(await readTree(w.local), { 'keep.txt': 'k' }, 'the emptied folders are removed too');
  const trashed = await localTrash(w);
  const [only] = Object.keys(trashed);
  t.regex(only ?? '', /^\d{8}-\d{6}\/deep\/er\/c\.txt$/);
  t.is(trashed[only ?? ''], 'local bytes');
});

test('overwritten versions go to the trash on both sides', async (t) => {
  const w = await synced(t, { 'up.txt': 'up v1', 'down.txt': 'down v1' });
  await writeFile(path.join(w.local, 'up.txt'), 'up v2, edited locally');
  await w.put('down.txt', 'down v2, edited remotely');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(r), 'uploaded 1, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.is((await w.get('up.txt'))?.toString(), 'up v2, edited locally');
  t.is(await readFile(path.join(w.local, 'down.txt'), 'utf8'), 'down v2, edited remotely');
  const [remoteOld] = await remoteTrash(w);
  t.regex(remoteOld ?? '', /^\d{8}-\d{6}\/up\.txt$/);
  t.is((await w.get(`${TRASH}/${remoteOld}`))?.toString(), 'up v1');
  t.deepEqual(Object.values(await localTrash(w)), ['down v1']);
});

test('the trash is never synced: not downloaded, not uploaded from a stateDir inside the root', async (t) => {
  // The stateDir (and so the local trash) lies inside the synced folder here.
  const w = await synced(t, { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' }, { config: { stateDir: './local/.state' } });
  await rm(path.join(w.local, 'a.txt'));
  await w.del('b.txt');
  t.is((await w.run()).code, 0);
  t.is((await remoteTrash(w)).length, 1);
  t.is(Object.keys(await localTrash(w)).length, 1);
  const again = await w.run();
  t.is(again.code, 0, again.stderr);
  t.is(summaryOf(again), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.deepEqual(
    Object.keys(await readTree(w.local, { ignore: (p) => p === '.state' })),
    ['c.txt'],
    'no .sync-agent-trash folder appeared locally',
  );
  t.deepEqual((await w.keys()).filter((k) => !k.startsWith(`${TRASH}/`)), ['c.txt'], 'nothing of .state was uploaded');
});

test('trash list shows both sides with stamp, path and size (--json, table, --pair)', async (t) => {
  const w = await synced(t, { 'gone-remote.txt': '12345', 'sub/gone-local.txt': 'abc' });
  await rm(path.join(w.local, 'gone-remote.txt'));
  await w.del('sub/gone-local.txt');
  t.is((await w.run()).code, 0);
  const listed = await trashList(t, w);
  t.deepEqual(
    listed.map(({ pair, side, path: p, size }) => ({ pair, side, path: p, size })),
    [
      { pair: 'main', side: 'remote', path: 'gone-remote.txt', size: 5 },
      { pair: 'main', side: 'local', path: 'sub/gone-local.txt', size: 3 },
    ],
  );
  for (const v of listed) {
    t.regex(v.stamp, STAMP);
    // The stamp is the pass time in UTC, within the last ten minutes.
    const now = passStamp(new Date());
    t.true(v.stamp <= now && v.stamp >= passStamp(new Date(Date.now() - 600_000)), v.stamp);
  }
  const table = await w.run('trash', 'list');
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /main\s+remote\s+\d{8}-\d{6}\s+5\s+gone-remote\.txt/);
  t.regex(table.stdout, /main\s+local\s+\d{8}-\d{6}\s+3\s+sub\/gone-local\.txt/);
  t.is((await w.run('trash', 'list', '--pair', 'main', '--json')).stdout, (await w.run('trash', 'list', '--json')).stdout);
  t.is((await w.run('trash', 'list', '--pair', 'nope')).code, 2);
});

test('trash restore brings a remote version back; the next pass downloads it', async (t) => {
  const w = await synced(t, { 'notes/todo.txt': 'buy milk', 'other.txt': 'o' });
  await rm(path.join(w.local, 'notes/todo.txt'));
  t.is((await w.run()).code, 0);
  t.is(await w.get('notes/todo.txt'), undefined);
  const restored = await w.run('trash', 'restore', 'notes/todo.txt');
  t.is(restored.code, 0, restored.stderr);
  t.regex(restored.stdout, /restored notes\/todo\.txt on the remote/);
  t.is((await w.get('notes/todo.txt'))?.toString(), 'buy milk');
  t.deepEqual(await remoteTrash(w), [], 'moved out of the trash');
  const pass = await w.run();
  t.is(pass.code, 0, pass.stderr);
  t.is(summaryOf(pass), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.is(await readFile(path.join(w.local, 'notes/todo.txt'), 'utf8'), 'buy milk');
});

test('trash restore brings a local version back; the next pass uploads it', async (t) => {
  const w = await synced(t, { 'photo.jpg': 'jpeg bytes', 'x.txt': 'x' });
  await w.del('photo.jpg');
  t.is((await w.run()).code, 0);
  const restored = await w.run('trash', 'restore', 'photo.jpg');
  t.is(restored.code, 0, restored.stderr);
  t.regex(restored.stdout, /restored photo\.jpg in the local folder/);
  t.is(await readFile(path.join(w.local, 'photo.jpg'), 'utf8'), 'jpeg bytes');
  t.deepEqual(await readdir(path.join(w.stateDir, 'trash', 'main')), [], 'the emptied stamp folder is removed');
  const pass = await w.run();
  t.is(pass.code, 0, pass.stderr);
  t.is(summaryOf(pass), 'uploaded 1, downloaded 0, deleted 0, conflicts 0, failed 0');
  t.is((await w.get('photo.jpg'))?.toString(), 'jpeg bytes');
});

test('restore takes the newest version, or the one --from names', async (t) => {
  const w = await synced(t, { 'f.txt': 'v1', 'other.txt': 'o' });
  for (const v of ['v2', 'v3']) {
    await writeFile(path.join(w.local, 'f.txt'), v);
    t.is((await w.run()).code, 0);
  }
  await rm(path.join(w.local, 'f.txt'));
  t.is((await w.run()).code, 0);
  // v1 and v2 were overwritten, v3 deleted: three versions in the remote trash.
  const listed = (await trashList(t, w)).filter((v) => v.path === 'f.txt');
  t.is(listed.length, 3);
  t.is(new Set(listed.map((v) => v.stamp)).size, 3, 'each version kept in its own stamp folder');
  const bodies = await Promise.all(listed.map(async (v) => (await w.get(`${TRASH}/${v.stamp}/f.txt`))?.toString()));
  t.deepEqual(bodies, ['v1', 'v2', 'v3'], 'listed oldest first');

  const oldest = listed[0]?.stamp ?? '';
  const r = await w.run('trash', 'restore', 'f.txt', '--from', oldest);
  t.is(r.code, 0, r.stderr);
  t.is((await w.get('f.txt'))?.toString(), 'v1');
  // The newest is now v3; restoring it must not overwrite the v1 just restored.
  const refused = await w.run('trash', 'restore', 'f.txt');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /f\.txt already exists on the remote; nothing was overwritten.*--to/);
  t.is((await w.get('f.txt'))?.toString(), 'v1');
  const beside = await w.run('trash', 'restore', 'f.txt', '--to', 'f.v3.txt');
  t.is(beside.code, 0, beside.stderr);
  t.is((await w.get('f.v3.txt'))?.toString(), 'v3');
  t.is((await w.run('trash', 'restore', 'f.txt', '--from', '20000101-000000')).code, 1);
  t.is((await w.run('trash', 'restore', 'f.txt', '--from', 'yesterday')).code, 2);
  t.is((await w.run('trash', 'restore', 'never-there.txt')).code, 1);
});

test('restore never overwrites a local file that came back meanwhile', async (t) => {
  const w = await synced(t, { 'r.txt': 'trashed bytes', 'other.txt': 'o' });
  await w.del('r.txt');
  t.is((await w.run()).code, 0);
  await writeFile(path.join(w.local, 'r.txt'), 'a new file by the user');
  const refused = await w.run('trash', 'restore', 'r.txt');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /already exists in the local folder/);
  t.is(await readFile(path.join(w.local, 'r.txt'), 'utf8'), 'a new file by the user');
  t.is((await trashList(t, w)).length, 1, 'the trashed version is still there');
});

test('a version trashed in the same second as an earlier one never overwrites it', async (t) => {
  const w = await synced(t, { 'same.txt': 'the real version', 'local-side.txt': 'local real version', 'z.txt': 'z' });
  // Every stamp folder the next pass could use already holds these paths (as if trashed by a
  // pass a moment earlier): the agent must pick a fresh folder, not copy over them.
  const start = Date.now();
  const stamps = Array.from({ length: 150 }, (_, i) => passStamp(new Date(start + (i - 5) * 1000)));
  await inBatches(stamps, 10, async (s) => {
    await w.put(`${TRASH}/${s}/same.txt`, `earlier ${s}`);
    await mkdir(path.join(w.stateDir, 'trash', 'main', s), { recursive: true });
    await writeFile(path.join(w.stateDir, 'trash', 'main', s, 'local-side.txt'), `earlier ${s}`);
  });
  await rm(path.join(w.local, 'same.txt'));
  await w.del('local-side.txt');
  const r = await w.run();
  t.is(r.code, 0, r.stderr);
  t.true(Date.now() < start + 140_000, 'the pass ran inside the prepared window');
  for (const s of stamps) {
    t.is((await w.get(`${TRASH}/${s}/same.txt`))?.toString(), `earlier ${s}`);
    t.is(await readFile(path.join(w.stateDir, 'trash', 'main', s, 'local-side.txt'), 'utf8'), `earlier ${s}`);
  }
  const fresh = (await remoteTrash(w)).filter((k) => /^\d{8}-\d{6}-2\/same\.txt$/.test(k));
  t.is(fresh.length, 1, JSON.stringify(fresh));
  t.is((await w.get(`${TRASH}/${fresh[0]}`))?.toString(), 'the real version');
  const local = Object.entries(await localTrash(w)).filter(([k]) => /^\d{8}-\d{6}-2\//.test(k));
  t.deepEqual(local.map(([, v]) => v), ['local real version']);
  // Listed, and restorable by their stamp.
  const listed = await trashList(t, w);
  t.true(listed.some((v) => v.side === 'remote' && v.stamp.endsWith('-2') && v.path === 'same.txt'));
  const stamp = fresh[0]?.split('/')[0] ?? '';
  const back = await w.run('trash', 'restore', 'same.txt', '--side', 'remote', '--from', stamp);
  t.is(back.code, 0, back.stderr);
  t.is((await w.get('same.txt'))?.toString(), 'the real version');
});

test('fs remote: remote versions are trashed inside the remote folder, listed and restored', async (t) => {
  const w = await synced(t, { 'n.txt': 'nas bytes', 'o.txt': 'o' }, { fsRemote: true });
  await rm(path.join(w.local, 'n.txt'));
  t.is((await w.run()).code, 0);
  const [trashed] = await remoteTrash(w);
  t.regex(trashed ?? '', /^\d{8}-\d{6}\/n\.txt$/);
  t.is((await w.get(`${TRASH}/${trashed}`))?.toString(), 'nas bytes');
  const listed = await trashList(t, w);
  t.deepEqual(listed.map((v) => [v.side, v.path, v.size]), [['remote', 'n.txt', 9]]);
  t.is(summaryOf(await w.run()), 'uploaded 0, downloaded 0, deleted 0, conflicts 0, failed 0', 'the trash is not synced');
  const back = await w.run('trash', 'restore', 'n.txt');
  t.is(back.code, 0, back.stderr);
  t.is(summaryOf(await w.run()), 'uploaded 0, downloaded 1, deleted 0, conflicts 0, failed 0');
  t.is(await readFile(path.join(w.local, 'n.txt'), 'utf8'), 'nas bytes');
});

test('trash commands fail with a message a user can act on: a file in the way, an unreachable remote', async (t) => {
  const w = await synced(t, { 'd/inner.txt': 'inner', 'top.txt': 't' });
  await w.del('d/inner.txt');
  t.is((await w.run()).code, 0);
  await writeFile(path.join(w.local, 'd'), 'a file where the folder was');
  const blocked = await w.run('trash', 'restore', 'd/inner.txt');
  t.is(blocked.code, 1);
  t.regex(blocked.stderr, /restoring d\/inner\.txt \(local, \d{8}-\d{6}\) failed: d is a file where a folder is needed; the version is still in the trash/);
  t.notRegex(blocked.stderr, /\n\s+at /, 'no stack trace');
  t.is((await trashList(t, w)).length, 1);

  await w.reconfigure({ remote: { endpoint: 'http://127.0.0.1:9' } });
  const down = await w.run('trash', 'list');
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot read the trash of pair main: /);
  t.notRegex(down.stderr, /\n\s+at /, 'no stack trace');
});
