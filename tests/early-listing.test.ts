// The listing a one-shot pass starts while it reads the manifest: pages that arrive before the
// pass takes it are handed over then, in order; a failure is the pass's to report, never an
// unhandled rejection; cancel stops it.

import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { EarlyListing, listRemote } from '../agent/remote-listing.js';
import type { RemoteObject } from '../agent/types.js';

const page = (...paths: string[]): RemoteObject[] => paths.map((p) => ({ path: p, size: 1, token: p }));

/** A store of our own interface (not an SDK): yields pages when told to, or fails. */
function store(pages: readonly RemoteObject[][], opts: { failAfter?: number } = {}) {
  const gates = pages.map(() => {
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve: () => resolve() };
  });
  let seen: AbortSignal | undefined;
  return {
    release: (i: number) => gates[i]?.resolve(),
    signal: () => seen,
    provider: {
      async *list(signal?: AbortSignal): AsyncIterable<readonly RemoteObject[]> {
        seen = signal;
        for (const [i, p] of pages.entries()) {
          if (i === opts.failAfter) throw new Error('listing bucket b failed: connect ECONNREFUSED 127.0.0.1:9');
          await gates[i]?.promise;
          if (signal?.aborted) throw new Error('Request aborted');
          yield p;
        }
      },
    },
  };
}

test('pages that came before the pass took the listing are handed over first, then the rest as they come', async (t) => {
  const s = store([page('a', 'b'), page('c'), page('d', 'e')]);
  const early = new EarlyListing(s.provider);
  s.release(0);
  s.release(1);
  await sleep(20);
  const got: string[][] = [];
  const all = early.take((p) => got.push(p.map((o) => o.path)));
  await sleep(20);
  t.deepEqual(got, [['a', 'b'], ['c']], 'the two pages so far, at once and in order');
  s.release(2);
  t.deepEqual((await all).map((o) => o.path), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(got, [['a', 'b'], ['c'], ['d', 'e']]);
  t.throws(() => early.take(), { message: /already taken/ });
});

test('a failed listing rejects the pass that takes it, and one nobody takes fails quietly', async (t) => {
  const s = store([page('a'), page('b')], { failAfter: 1 });
  s.release(0);
  await t.throwsAsync(new EarlyListing(s.provider).take(), { message: /ECONNREFUSED/ });
  // Never taken: ava fails the test run on an unhandled rejection.
  new EarlyListing(store([page('a')], { failAfter: 0 }).provider);
  await sleep(20);
  t.pass();
});

test('cancel, or the pass aborting, stops the listing', async (t) => {
  const s = store([page('a'), page('b')]);
  const early = new EarlyListing(s.provider);
  early.cancel();
  t.true(s.signal()?.aborted);
  s.release(0);
  await t.throwsAsync(early.take(), { message: /aborted/ });

  const s2 = store([page('a'), page('b')]);
  const ac = new AbortController();
  const taken = new EarlyListing(s2.provider).take(undefined, ac.signal);
  ac.abort();
  s2.release(0);
  await t.throwsAsync(taken, { message: /aborted/ });
});

test('a listing that fails mid-way has handed over every page it got by the time it rejects, and none after', async (t) => {
  const s = store([page('a'), page('b'), page('c')], { failAfter: 2 });
  s.release(0);
  s.release(1);
  const seen: string[] = [];
  await t.throwsAsync(listRemote(s, undefined, (p) => seen.push(...p.map((o) => o.path))), { message: /ECONNREFUSED/ });
  t.deepEqual(seen, ['a', 'b']);
  await sleep(20);
  t.deepEqual(seen, ['a', 'b']);
});
