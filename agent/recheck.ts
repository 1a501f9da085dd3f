// After a cycle: which paths must be looked at again. Stale actions (the world moved between
// the scan and the action) and uploads whose file changed while it was sent go round again at
// once, through the aggregator's quiet time; failed actions wait for the retry backoff.

import type { ActionResult, LocalFile } from './types.js';
import { keyToLocalPath } from './paths.js';
import { lstatOrUndefined } from './local-fs.js';

export interface Recheck {
  /** Look again after the usual quiet time. */
  readonly again: readonly string[];
  /** Failed: look again after a backoff. */
  readonly failed: readonly string[];
}

/**
 * Sorts a cycle's results into paths to look at again.
 * @param diskNames on-disk names of keys whose NFC form differs (PairRuntime.diskNames)
 * @param aborted the agent is stopping: actions it aborted are not failures to retry
 */
export async function pathsToRecheck(results: readonly ActionResult[], root: string, diskNames: ReadonlyMap<string, string>, aborted: boolean): Promise<Recheck> {
  const again: string[] = [];
  const failed: string[] = [];
  for (const r of results) {
    const a = r.action;
    const paths = a.kind === 'moveRemote' ? [a.path, a.from] : [a.path];
    if (r.status === 'failed') {
      if (!aborted) failed.push(...paths);
    } else if (r.status === 'stale') {
      again.push(...paths);
    } else if (a.kind === 'upload' && changedSince(keyToLocalPath(root, diskNames.get(a.path) ?? a.path), a.local)) {
      // The object holds whatever was read mid-change; the manifest kept the planned stat.
      again.push(a.path);
    }
  }
  return { again, failed };
}

/** Gone, unreadable or another size or mtime than planned: the upload may hold other bytes. */
function changedSince(file: string, f: LocalFile): boolean {
  try {
    const st = lstatOrUndefined(file);
    return st === undefined || st.size !== f.size || st.mtimeMs !== f.mtimeMs;
  } catch {
    return true;
  }
}
