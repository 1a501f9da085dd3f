// The aggregator's rename support (removeRideAlongMs) and batch times, under a hand-driven clock.
import test from 'ava';
import { Aggregator, type FlushBatch } from '../agent/aggregator.js';
import { FakeClock } from './helpers/fake-clock.js';

function setup(removeRideAlongMs: number | undefined) {
  const clock = new FakeClock();
  const start = clock.now();
  const flushes: { at: number; batch: FlushBatch }[] = [];
  const agg = new Aggregator({
    clock,
    debounceMs: 500, // removeHoldMs 1500, slack 125
    ...(removeRideAlongMs === undefined ? {} : { removeRideAlongMs }),
    onFlush: (batch) => flushes.push({ at: clock.now() - start, batch }),
  });
  const shape = () => flushes.map((f) => [f.at, f.batch.kind === 'paths' ? [...f.batch.paths] : []]);
  return { clock, start, agg, flushes, shape };
}

test('a rename’s quiet remove rides along with its add, so both are planned in one pass', (t) => {
  const { clock, agg, shape } = setup(500);
  agg.push({ path: 'old.txt', removed: true });
  clock.advance(200);
  agg.push({ path: 'new.txt', removed: false });
  clock.advance(10_000);
  t.deepEqual(shape(), [[700, ['new.txt', 'old.txt']]]);
});

test('a remove seen a little after the add (chokidar delays unlinks) still rides along within the slack', (t) => {
  const { clock, agg, shape } = setup(500);
  agg.push({ path: 'dir2/a', removed: false });
  clock.advance(100);
  agg.push({ path: 'dir/a', removed: true });
  clock.advance(10_000);
  t.deepEqual(shape(), [[500, ['dir2/a', 'dir/a']]]);
});

test('a remove that is still fresh does not ride along and waits for its own hold', (t) => {
  const { clock, agg, shape } = setup(500);
  agg.push({ path: 'new.txt', removed: false });
  clock.advance(400);
  agg.push({ path: 'saving.txt', removed: true });
  clock.advance(10_000);
  t.deepEqual(shape(), [
    [500, ['new.txt']],
    [400 + 1500 + 125, ['saving.txt']],
  ]);
});

test('a remove alone waits for its hold even with ride-along on', (t) => {
  const { clock, agg, shape } = setup(500);
  agg.push({ path: 'gone.txt', removed: true });
  clock.advance(10_000);
  t.deepEqual(shape(), [[1500 + 125, ['gone.txt']]]);
});

test('without the option removes never ride along (the default)', (t) => {
  const { clock, agg, shape } = setup(undefined);
  agg.push({ path: 'old.txt', removed: true });
  clock.advance(200);
  agg.push({ path: 'new.txt', removed: false });
  clock.advance(10_000);
  t.deepEqual(shape(), [
    [700, ['new.txt']],
    [1500 + 125, ['old.txt']],
  ]);
});

test('a batch carries the time of its oldest event', (t) => {
  const { clock, start, agg, flushes } = setup(undefined);
  agg.push({ path: 'a', removed: false });
  clock.advance(100);
  agg.push({ path: 'b', removed: false });
  clock.advance(10_000);
  t.is(flushes.length, 1);
  t.is(flushes[0]?.batch.since, start);
});
