// Remote side of a pass: a full paged listing, or for a scoped pass a handful of stats (a full
// listing past a threshold, where one request per 1,000 keys beats one per path).

import PQueue from 'p-queue';
import type { RemoteObject } from './types.js';
import type { PairRuntime } from './pair.js';
import type { RemoteProvider } from '../providers/provider.js';

/** Past this many scoped paths, list instead of stat. @default 256 */
export const STAT_LIMIT = 256;

/**
 * Every object; `onPage` sees each page as it arrives (the pass checks keys and hashes while the
 * listing goes on), and has seen every page when this resolves.
 */
export async function listRemote(rt: { readonly provider: Pick<RemoteProvider, 'list'> }, signal?: AbortSignal, onPage?: (page: readonly RemoteObject[]) => void): Promise<RemoteObject[]> {
  const all: RemoteObject[] = [];
  let handled: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  try {
    for await (const page of rt.provider.list(signal)) {
      for (const o of page) all.push(o);
      if (!onPage) continue;
      // In the next turn of the event loop, not now: a provider asks for the next page before it
      // yields this one, and the request must leave before `onPage` takes the thread (a few ms per
      // 1,000 keys, which would otherwise sit between every two pages of a sequential listing).
      handled = new Promise((done) =>
        setImmediate(() => {
          try {
            if (!failure) onPage(page);
          } catch (error) {
            failure = { error };
          }
          done();
        }),
      );
    }
  } finally {
    // Immediates run in order: the last one done means all are, also when the listing failed, so
    // no page reaches `onPage` after this settles.
    await handled;
  }
  if (failure) throw failure.error;
  return all;
}

/** Stats each path (raw key where known); paths with no object are simply absent. */
export async function statRemote(rt: PairRuntime, paths: ReadonlySet<string>, signal?: AbortSignal): Promise<RemoteObject[]> {
  const files = [...paths].filter((p) => p !== '');
  if (files.length > STAT_LIMIT || paths.has('')) return listRemote(rt, signal);
  const q = new PQueue({ concurrency: 16 });
  const found = await Promise.all(files.map((p) => q.add(() => rt.provider.stat(rt.rawKeys.get(p) ?? p), { signal })));
  return found.filter((o): o is RemoteObject => o !== undefined);
}

/**
 * A full listing started before the pass that uses it. A one-shot pass starts it as soon as the
 * provider exists, so the bucket's pages (one after another, each a round trip) come in while the
 * manifest is read and parsed: at 100,000 entries that took 0.7 s, all of it before the first
 * request. Pages that arrive before the pass takes the listing are kept and handed to it then.
 */
export class EarlyListing {
  readonly #abort = new AbortController();
  readonly #pages: (readonly RemoteObject[])[] = [];
  readonly #all: Promise<RemoteObject[]>;
  #onPage: ((page: readonly RemoteObject[]) => void) | undefined;
  #taken = false;

  constructor(provider: Pick<RemoteProvider, 'list'>) {
    this.#all = listRemote({ provider }, this.#abort.signal, (page) => {
      if (this.#onPage) this.#onPage(page);
      else if (!this.#taken) this.#pages.push(page);
    });
    // Its failure is the pass's to report (take); a listing nobody takes fails silently.
    this.#all.catch(() => undefined);
  }

  /** The listing, once: the pages so far go to `onPage` now, the rest as they come. */
  take(onPage?: (page: readonly RemoteObject[]) => void, signal?: AbortSignal): Promise<RemoteObject[]> {
    if (this.#taken) throw new Error('the early listing was already taken');
    this.#taken = true;
    if (signal?.aborted) this.cancel();
    else signal?.addEventListener('abort', () => this.cancel(), { once: true });
    if (onPage) for (const page of this.#pages) onPage(page);
    this.#pages.length = 0;
    this.#onPage = onPage;
    return this.#all;
  }

  /** Stops the listing (the pair could not be opened, or the pass was aborted). */
  cancel(): void {
    this.#abort.abort();
  }
}
