// The daemon's idle-time collection (agent/daemon-heap.ts) on the real V8 heap: garbage left by a piece of work goes
// once everything is idle, never while a cycle runs, and small growth is left to V8.
import test from 'ava';
import { IdleGc } from '../agent/daemon-heap.js';

const MiB = 2 ** 20;
type Collected = { beforeBytes: number; afterBytes: number; ms: number };

/** Makes ~`mib` MiB of objects that live long enough to reach the old generation, then drops them. */
async function leaveGarbage(mib: number): Promise<void> {
  let keep: { i: number; s: string }[][] = [];
  for (let k = 0; k < mib; k++) keep.push(Array.from({ length: 8_000 }, (_, i) => ({ i, s: `x${i}` })));
  await new Promise((r) => setTimeout(r, 20)); // a few scavenges: they survive and get promoted
  keep = [];
  void keep;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial('the garbage of finished work is collected once every cycle is idle', async (t) => {
  const seen: Collected[] = [];
  const gc = new IdleGc({ delayMs: 50, minGrowthBytes: 16 * MiB, onCollect: (c) => seen.push(c) });
  t.teardown(() => gc.close());
  gc.busy(); // a cycle of pair 1
  gc.busy(); // a cycle of pair 2
  await leaveGarbage(120);
  gc.idle();
  await wait(200);
  t.deepEqual(seen, [], 'nothing is collected while a cycle still runs');
  gc.idle();
  const end = Date.now() + 10_000;
  while (seen.length === 0 && Date.now() < end) await wait(20);
  t.is(seen.length, 1);
  const c = seen[0]!;
  t.true(c.beforeBytes - c.afterBytes > 16 * MiB, `heap ${Math.round(c.beforeBytes / MiB)} -> ${Math.round(c.afterBytes / MiB)} MiB`);
});

test.serial('a cycle that starts during the quiet time puts the collection off until it ends', async (t) => {
  const seen: Collected[] = [];
  const gc = new IdleGc({ delayMs: 100, minGrowthBytes: 16 * MiB, onCollect: (c) => seen.push(c) });
  t.teardown(() => gc.close());
  gc.busy();
  await leaveGarbage(120);
  gc.idle();
  gc.busy(); // the next cycle, before the quiet time is over
  await wait(400);
  t.deepEqual(seen, [], 'no pause while the next cycle runs');
  gc.idle();
  const end = Date.now() + 10_000;
  while (seen.length === 0 && Date.now() < end) await wait(20);
  t.is(seen.length, 1, 'collected once that cycle ended');
});

test.serial('after the first collection, growth under minGrowthBytes is left to V8', async (t) => {
  const seen: Collected[] = [];
  const gc = new IdleGc({ delayMs: 50, minGrowthBytes: 1024 * MiB, onCollect: (c) => seen.push(c) });
  t.teardown(() => gc.close());
  gc.busy(); // the first pass: its garbage is collected whatever its size
  gc.idle();
  const end = Date.now() + 10_000;
  while (seen.length === 0 && Date.now() < end) await wait(20);
  t.is(seen.length, 1);
  gc.busy();
  await leaveGarbage(40);
  gc.idle();
  await wait(400);
  t.is(seen.length, 1, 'no second collection for 40 MiB');
});
