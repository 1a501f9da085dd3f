// Remote side of a pass: a full paged listing, or for a scoped pass a handful of stats (a full
// listing past a threshold, where one request per 1,000 keys beats one per path).

import PQueue from 'p-queue';
import type { RemoteObject } from './types.js';
import type { PairRuntime } from './pair.js';

/** Past this many scoped paths, list instead of stat. @default 256 */
export const STAT_LIMIT = 256;

/** Every object; `onPage` sees each page as it arrives (the pass hashes while the listing goes on). */
export async function listRemote(rt: PairRuntime, signal?: AbortSignal, onPage?: (page: readonly RemoteObject[]) => void): Promise<RemoteObject[]> {
  const all: RemoteObject[] = [];
  for await (const page of rt.provider.list(signal)) {
    for (const o of page) all.push(o);
    onPage?.(page);
  }
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
