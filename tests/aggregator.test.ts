// The aggregator under a hand-driven clock: every time below is exact, none of it is real time.
import test from 'ava';
import fc from 'fast-check';
import { Aggregator, type AggregatorOptions, type FlushBatch } from '../agent/aggregator.js';
import { FakeClock } from './helpers/fake-clock.js';

interface Flush {
  /** Milliseconds since the test started. */
  readonly at: number;
  readonly batch: FlushBatch;
}

function setup(opts: Partial<Omit<AggregatorOptions, 'clock' | 'onFlush'>> = {}) {
  const clock = new FakeClock();
  const start = clock.now();
  const flushes: Flush[] = [];
  const agg = new Aggregator({
    debounceMs: 500,
    ...opts,
    clock,
    onFlush: (batch) => flushes.push({ at: clock.now() - start, batch }),
  });
  const paths = (f: Flush | undefined): string[] =>
    f?.batch.kind === 'paths' ? [...f.batch.paths] : [];
  return { clock, start, agg, flushes, paths };
}

test('a path changing every 100 ms for 1 s is flushed once, after the quiet time', (t) => {
  const { clock, agg, flushes, paths } = setup();
  for (let i = 0; i <= 10; i++) {
    agg.push({ path: 'doc.txt', removed: false });
    if (i < 10) clock.advance(100);
  }
  clock.advance(499);
  t.is(flushes.length, 0, 'still within the quiet time of the last change');
  clock.advance(10_000);
  t.is(flushes.length, 1);
  t.is(flushes[0]?.at, 1500);
  t.deepEqual(paths(flushes[0]), ['doc.txt']);
});

test('a path that never goes quiet is flushed every maxDelayMs anyway', (t) => {
  const { clock, agg, flushes } = setup(); // maxDelayMs defaults to max(6 × 500, 2000) = 3000
  for (let i = 0; i <= 100; i++) {
    agg.push({ path: 'log.txt', removed: false });
    if (i < 100) clock.advance(100);
  }
  clock.advance(10_000);
  t.deepEqual(
    flushes.map((f) => f.at),
    [3000, 6000, 9000, 10_500],
  );
});

test('an atomic save (remove then re-add within the hold) is one change, never a delete', (t) => {
  for (const readdAfter of [0, 300, 1200, 1499]) {
    const { clock, agg, flushes, paths } = setup(); // removeHoldMs defaults to 1500
    agg.push({ path: 'a/report.docx', removed: true });
    clock.advance(readdAfter);
    t.is(flushes.length, 0, `nothing released before the re-add at ${readdAfter} ms`);
    agg.push({ path: 'a/report.docx', removed: false });
    clock.advance(10_000);
    t.is(flushes.length, 1, `re-add at ${readdAfter} ms`);
    t.is(flushes[0]?.at, readdAfter + 500, 'released after the ordinary quiet time');
    t.deepEqual(paths(flushes[0]), ['a/report.docx']);
  }
});

test('a plain delete is held for removeHoldMs, then flushed', (t) => {
  const { clock, agg, flushes, paths } = setup();
  agg.push({ path: 'gone.txt', removed: true });
  clock.advance(1499);
  t.is(flushes.length, 0);
  clock.advance(10_000);
  t.is(flushes.length, 1);
  const at = flushes[0]?.at ?? 0;
  t.true(at >= 1500 && at <= 1500 + 500, `released at ${at} ms`);
  t.deepEqual(paths(flushes[0]), ['gone.txt']);
});

test('a remove whose hold has not passed stays out of a batch released for other paths', (t) => {
  const { clock, agg, flushes, paths } = setup();
  agg.push({ path: 'old.txt', removed: true });
  clock.advance(200);
  agg.push({ path: 'new.txt', removed: false });
  clock.advance(10_000);
  t.deepEqual(
    flushes.map((f) => [f.at, paths(f)]),
    [
      [700, ['new.txt']],
      [1500 + 125, ['old.txt']],
    ],
  );
});

test('paths due together go out in one batch, changes before removes', (t) => {
  const { clock, agg, flushes, paths } = setup();
  agg.push({ path: 'b-removed.txt', removed: true });
  clock.advance(1000);
  agg.push({ path: 'a-changed.txt', removed: false });
  clock.advance(10_000);
  t.is(flushes.length, 1);
  t.deepEqual(paths(flushes[0]), ['a-changed.txt', 'b-removed.txt']);
});

test('with removeRideAlongMs, both halves of a rename go out in one batch', (t) => {
  const { clock, agg, flushes, paths } = setup({ removeRideAlongMs: 500 });
  agg.push({ path: 'old-name.txt', removed: true });
  agg.push({ path: 'new-name.txt', removed: false });
  clock.advance(10_000);
  t.deepEqual(
    flushes.map((f) => [f.at, paths(f)]),
    [[500, ['new-name.txt', 'old-name.txt']]],
  );
});

test('a remove too fresh to ride along, or with nothing to ride on, waits for its hold', (t) => {
  const { clock, agg, flushes, paths } = setup({ removeRideAlongMs: 500 });
  agg.push({ path: 'other.txt', removed: false });
  clock.advance(400);
  agg.push({ path: 'saving.txt', removed: true }); // an atomic save may still be under way
  clock.advance(10_000);
  t.deepEqual(
    flushes.map((f) => [f.at, paths(f)]),
    [
      [500, ['other.txt']],
      [400 + 1500 + 125, ['saving.txt']],
    ],
  );
});

test('each batch says since when its oldest change has waited', (t) => {
  const { clock, start, agg, flushes, paths } = setup({ maxPaths: 3 });
  agg.push({ path: 'a', removed: false });
  clock.advance(100);
  agg.push({ path: 'b', removed: false });
  clock.advance(10_000);
  t.deepEqual(paths(flushes[0]), ['a', 'b'], 'b is due within the slack of a');
  t.is(flushes[0]?.batch.since, start, 'since a’s first event');
  clock.advance(1000);
  for (const p of ['w', 'x', 'y', 'z']) agg.push({ path: p, removed: false });
  clock.advance(10_000);
  t.is(flushes[1]?.batch.kind, 'full');
  t.is(flushes[1]?.batch.since, start + 11_100);
});

test('1,000 files created within 50 ms are flushed in at most 3 batches, all of them', (t) => {
  for (const removed of [false, true]) {
    const { clock, agg, flushes, paths } = setup();
    for (let i = 0; i < 1000; i++) {
      agg.push({ path: `burst/f${i}.bin`, removed });
      if (i % 20 === 19) clock.advance(1);
    }
    t.is(agg.pendingCount(), 1000);
    clock.advance(10_000);
    t.true(flushes.length >= 1 && flushes.length <= 3, `${flushes.length} batches`);
    const all = flushes.flatMap(paths);
    t.is(all.length, 1000, 'each path exactly once');
    t.is(new Set(all).size, 1000);
    t.is(agg.pendingCount(), 0);
  }
});

test('overflow past maxPaths becomes one full pass, then normal batching resumes', (t) => {
  const { clock, agg, flushes, paths } = setup({ maxPaths: 100 });
  for (let i = 0; i < 150; i++) agg.push({ path: `flood/${i}`, removed: i % 2 === 0 });
  t.is(agg.pendingCount(), 150);
  clock.advance(10_000);
  t.is(flushes.length, 1);
  const first = flushes[0]?.batch;
  t.is(first?.kind, 'full');
  t.regex(first?.kind === 'full' ? first.reason : '', /more than 100 paths/);
  t.is(agg.pendingCount(), 0);
  agg.push({ path: 'after.txt', removed: false });
  clock.advance(10_000);
  t.deepEqual(paths(flushes[1]), ['after.txt']);
});

test('the overflow pass still waits for the flood to go quiet', (t) => {
  const { clock, agg, flushes } = setup({ maxPaths: 10 });
  for (let i = 0; i < 11; i++) agg.push({ path: `first/${i}`, removed: false });
  for (let i = 1; i <= 19; i++) {
    clock.advance(100);
    agg.push({ path: `more/${i}`, removed: false });
  }
  clock.advance(499);
  t.is(flushes.length, 0, 'the flood has not been quiet for debounceMs yet');
  clock.advance(10_000);
  t.is(flushes.length, 1);
  t.is(flushes[0]?.batch.kind, 'full');
  t.is(flushes[0]?.at, 1900 + 500);
});

test('the agent’s own writes are dropped while writing and for echoWindowMs after', (t) => {
  const { clock, agg, flushes, paths } = setup();
  agg.expectEcho('dl.txt');
  clock.advance(100);
  agg.push({ path: 'dl.txt', removed: false });
  clock.advance(1900);
  agg.push({ path: 'dl.txt', removed: false }); // exactly at the end of the window: still ours
  agg.beginWrite('big.iso');
  clock.advance(60_000);
  agg.push({ path: 'big.iso', removed: false }); // a long download is still in progress
  agg.endWrite('big.iso');
  clock.advance(1999);
  agg.push({ path: 'big.iso', removed: true });
  clock.advance(10_000);
  t.is(flushes.length, 0, 'every event so far was an echo');
  agg.push({ path: 'dl.txt', removed: false });
  agg.push({ path: 'big.iso', removed: false });
  clock.advance(10_000);
  t.deepEqual(paths(flushes[0]), ['dl.txt', 'big.iso'], 'after the window, events count again');
});

test('the agent’s temp files never produce a flush', (t) => {
  const { clock, agg, flushes } = setup();
  agg.push({ path: '.sync-agent-tmp-1a2b3c', removed: false });
  agg.push({ path: 'deep/dir/.sync-agent-tmp-1a2b3c', removed: true });
  t.is(agg.pendingCount(), 0);
  clock.advance(10_000);
  t.is(flushes.length, 0);
});

test('pendingCount and oldestPendingSince report what is waiting', (t) => {
  const { clock, start, agg, flushes } = setup();
  t.is(agg.pendingCount(), 0);
  t.is(agg.oldestPendingSince(), undefined);
  agg.push({ path: 'a', removed: false });
  clock.advance(100);
  agg.push({ path: 'b', removed: true });
  agg.push({ path: 'a', removed: false });
  t.is(agg.pendingCount(), 2);
  t.is(agg.oldestPendingSince(), start);
  clock.advance(500);
  t.is(flushes.length, 1, 'a is released, the remove of b is held');
  t.is(agg.pendingCount(), 1);
  t.is(agg.oldestPendingSince(), start + 100);
  clock.advance(10_000);
  t.is(agg.pendingCount(), 0);
  t.is(agg.oldestPendingSince(), undefined);
});

test('flushNow releases everything at once; close cancels the timer', (t) => {
  const { clock, agg, flushes, paths } = setup();
  agg.push({ path: 'x', removed: false });
  agg.push({ path: 'y', removed: true });
  agg.flushNow();
  t.deepEqual(paths(flushes[0]), ['x', 'y']);
  agg.flushNow();
  t.is(flushes.length, 1, 'nothing left to flush');
  agg.push({ path: 'z', removed: false });
  agg.close();
  t.is(clock.pendingTimers, 0);
  agg.push({ path: 'w', removed: false });
  clock.advance(10_000);
  t.is(flushes.length, 1);
});

test('options are checked', (t) => {
  const clock = new FakeClock();
  const onFlush = () => undefined;
  t.throws(() => new Aggregator({ clock, onFlush, debounceMs: -1 }), { instanceOf: RangeError });
  t.throws(() => new Aggregator({ clock, onFlush, debounceMs: 5, maxPaths: Number.NaN }), {
    message: /maxPaths/,
  });
});

test('property: every path is flushed eventually; quiet times and holds are kept', (t) => {
  const event = fc.record({
    path: fc.constantFrom('a', 'b', 'c/d', 'c/e', 'f'),
    removed: fc.boolean(),
    gap: fc.integer({ min: 0, max: 2500 }),
  });
  const scenario = fc.record({
    events: fc.array(event, { maxLength: 60 }),
    debounceMs: fc.integer({ min: 0, max: 2000 }),
    rideAlong: fc.boolean(),
  });
  fc.assert(
    fc.property(scenario, ({ events, debounceMs, rideAlong }) => {
      const clock = new FakeClock();
      const removeHoldMs = debounceMs + 1000;
      const maxDelayMs = Math.max(6 * debounceMs, 2000);
      const slack = debounceMs / 4;
      // First and latest event per path not yet flushed.
      const open = new Map<string, { first: number; at: number; removed: boolean }>();
      const agg = new Aggregator({
        clock,
        debounceMs,
        ...(rideAlong ? { removeRideAlongMs: debounceMs } : {}),
        onFlush: (batch) => {
          if (batch.kind !== 'paths') throw new Error('no overflow with 5 paths');
          const latest = [...batch.paths].map((p) => open.get(p));
          const hasChange = latest.some((l) => l?.removed === false);
          for (const p of batch.paths) {
            const last = open.get(p);
            if (last === undefined) throw new Error(`${p} flushed with no event pending`);
            const waited = clock.now() - last.at;
            // A remove waits for its hold, or (riding along with a change) for the ride-along time.
            const minWait = rideAlong && hasChange ? debounceMs - slack : removeHoldMs;
            if (last.removed && waited < minWait) {
              throw new Error(`remove of ${p} released ${waited} ms after it`);
            }
            const capped = clock.now() - last.first >= maxDelayMs - slack;
            if (waited < debounceMs - slack && !capped) {
              throw new Error(`${p} released while still changing`);
            }
            if (batch.since > last.first) throw new Error(`since is later than ${p}'s first event`);
            open.delete(p);
          }
        },
      });
      for (const ev of events) {
        clock.advance(ev.gap);
        agg.push(ev);
        const first = open.get(ev.path)?.first ?? clock.now();
        open.set(ev.path, { first, at: clock.now(), removed: ev.removed });
      }
      clock.advance(1_000_000);
      return open.size === 0 && agg.pendingCount() === 0 && clock.pendingTimers === 0;
    }),
    { numRuns: 500 },
  );
  t.pass();
});
