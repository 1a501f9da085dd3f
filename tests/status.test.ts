import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatDuration, formatStatusTable, readStatus, statusFile, writeStatus, type PairStatus } from '../agent/status.js';

async function tmpDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'status-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const NOW = Date.parse('2026-01-22T12:00:00.000Z');
const iso = (msAgo: number): string => new Date(NOW - msAgo).toISOString();

const healthy: PairStatus = {
  pair: 'docs',
  local: '/home/me/sync',
  remote: 's3://bucket/docs/',
  trackedFiles: 12345,
  pendingPaths: 3,
  inFlight: 1,
  lastPass: {
    startedAt: iso(5 * 60_000 + 3_200),
    finishedAt: iso(5 * 60_000),
    result: 'ok',
    uploaded: 4,
    downloaded: 2,
    deleted: 1,
    conflicts: 0,
    failed: 0,
    skipped: 0,
  },
  oldestUnsyncedMs: NOW - 125_000,
  daemonPid: 4242,
  updatedAt: iso(2_000),
};

const troubled: PairStatus = {
  pair: 'photos',
  local: '/home/me/photos',
  remote: 'qiniu://pics/',
  trackedFiles: 10,
  pendingPaths: 0,
  inFlight: 0,
  lastPass: { ...healthy.lastPass!, result: 'guard', uploaded: 0, downloaded: 0, deleted: 0, skipped: 13 },
  guard: 'the remote listing is empty while the manifest lists 10 files',
  lastError: { at: iso(3 * 3_600_000 + 10 * 60_000), message: 'upload a.jpg: AccessDenied' },
  remoteDown: true,
  skips: Array.from({ length: 13 }, (_, i) => ({ path: `bad/name-${i}\u0001`, reason: 'control character in name' })),
  manifestRecovered: 'manifest was corrupt (not JSON); restored the last good copy',
  updatedAt: iso(60_000),
};

test('write then read gives the same status; the write leaves no temp file', async (t) => {
  const dir = await tmpDir(t);
  const state = path.join(dir, 'state');
  await writeStatus(state, healthy);
  await writeStatus(state, troubled);
  t.deepEqual(await readStatus(state, 'docs'), healthy);
  t.deepEqual(await readStatus(state, 'photos'), troubled);
  t.deepEqual((await readdir(state)).sort(), ['docs.status.json', 'photos.status.json']);
  // The file itself is plain JSON of the same record, for scripts.
  t.deepEqual(JSON.parse(await readFile(statusFile(state, 'docs'), 'utf8')), healthy);
});

test('a pair that never ran, or a file that is not a status, reads as undefined', async (t) => {
  const dir = await tmpDir(t);
  t.is(await readStatus(dir, 'docs'), undefined);
  await writeFile(statusFile(dir, 'docs'), '{"pair": "docs", "trac');
  t.is(await readStatus(dir, 'docs'), undefined);
  await writeFile(statusFile(dir, 'docs'), JSON.stringify({ pair: 'docs' }));
  t.is(await readStatus(dir, 'docs'), undefined);
});

test('skips are capped at 100 in the file', async (t) => {
  const dir = await tmpDir(t);
  const many = Array.from({ length: 250 }, (_, i) => ({ path: `p${i}`, reason: 'r' }));
  await writeStatus(dir, { ...troubled, skips: many });
  t.is((await readStatus(dir, 'photos'))?.skips?.length, 100);
});

test('concurrent writes of one pair leave one whole, valid file', async (t) => {
  const dir = await tmpDir(t);
  await Promise.all(Array.from({ length: 20 }, (_, i) => writeStatus(dir, { ...healthy, trackedFiles: i })));
  const st = await readStatus(dir, 'docs');
  t.true(st !== undefined && st.trackedFiles >= 0 && st.trackedFiles < 20);
  t.deepEqual(await readdir(dir), ['docs.status.json']);
});

test('the table of a healthy pair shows counts, pending work and ages', (t) => {
  const table = formatStatusTable([healthy], NOW);
  const line = (label: string) => table.split('\n').find((l) => l.trimStart().startsWith(label)) ?? '';
  t.regex(table.split('\n')[0] ?? '', /^docs\s+\/home\/me\/sync <-> s3:\/\/bucket\/docs\//);
  t.regex(line('tracked files'), /12,345/);
  t.regex(line('pending'), /3 paths, 1 in flight/);
  t.regex(line('oldest unsynced'), /2m 5s ago/);
  t.regex(line('last pass'), /OK 5m ago \(2026-01-22 11:55:00Z, took 3s\)/);
  t.regex(table, /uploaded 4, downloaded 2, deleted 1, conflicts 0, failed 0, skipped 0/);
  t.regex(line('daemon'), /pid 4242/);
  t.regex(line('updated'), /2s ago/);
  t.notRegex(table, /last error|guard|DOWN|skipped {2}/);
});

test('the table of a troubled pair shows the guard, the error, the outage and skipped items', (t) => {
  const table = formatStatusTable([healthy, troubled], NOW);
  const [, second] = table.split('\n\n');
  t.regex(second ?? '', /^photos\s+\/home\/me\/photos <-> qiniu:\/\/pics\//);
  t.regex(second ?? '', /last pass\s+GUARD/);
  t.regex(second ?? '', /guard\s+the remote listing is empty while the manifest lists 10 files/);
  t.regex(second ?? '', /last error\s+3h 10m ago: upload a\.jpg: AccessDenied/);
  t.regex(second ?? '', /remote\s+DOWN/);
  t.regex(second ?? '', /manifest\s+manifest was corrupt \(not JSON\); restored the last good copy/);
  // Control characters are shown escaped, never sent to the terminal.
  t.regex(second ?? '', /skipped\s+bad\/name-0\\x01: control character in name/);
  t.false((second ?? '').includes('\u0001'));
  t.true((second ?? '').includes('bad/name-9'));
  t.false((second ?? '').includes('bad/name-10'));
  t.regex(second ?? '', /… and 3 more/);
});

test('a pair with no pass yet and no pairs at all still read sensibly', (t) => {
  const never: PairStatus = { pair: 'new', local: './sync', remote: 'fs:./remote', trackedFiles: 0, pendingPaths: 0, inFlight: 0, updatedAt: new Date(0).toISOString() };
  const table = formatStatusTable([never], NOW);
  t.regex(table, /last pass\s+none yet/);
  t.regex(table, /updated\s+never/);
  t.is(formatStatusTable([], NOW), 'no pairs configured');
});

test('durations read in two units at most', (t) => {
  t.is(formatDuration(0), '0s');
  t.is(formatDuration(59_400), '59s');
  t.is(formatDuration(60_000), '1m');
  t.is(formatDuration(125_000), '2m 5s');
  t.is(formatDuration(2 * 3_600_000 + 10 * 60_000 + 5_000), '2h 10m');
  t.is(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3d 4h');
  t.is(formatDuration(-5), '0s');
});
