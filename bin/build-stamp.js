// The build stamp: a fingerprint of what dist/ was built from, so that bin/sync-agent.js runs
// dist/ only when it matches the sources as they are now.
//
// bin/build.js (`npm run build`) takes the fingerprint BEFORE esbuild reads the sources, and
// writes it to dist/.build-stamp only once the bundle is complete: an edit made while esbuild runs
// changes the sources' fingerprint, so it no longer matches and the half-stale output is never
// used; a failed build leaves no stamp at all (bin then runs the sources).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The TypeScript the bundle is made of. */
const SOURCE_DIRS = ['agent', 'providers', 'state'];
/**
 * What else shapes the bundle: the compiler options, the packages bundled into it (a lock file
 * change means other dependency code), and the build's own options.
 */
const BUILD_INPUTS = ['tsconfig.json', 'package.json', 'package-lock.json', 'bin/build.js'];

export const DIST = path.join(ROOT, 'dist');
export const BUILT_CLI = path.join(DIST, 'cli.js');
export const STAMP = path.join(DIST, '.build-stamp');

/**
 * The sources' fingerprint: how many .ts files, and the newest status change (ctime) among them,
 * their folders and the build inputs. ctime, not mtime: a tool cannot set it back, and a rename or
 * delete changes the folder's ctime. About 60 stat calls, ~1 ms.
 * @returns e.g. `51 files, newest change 1763796603027.123`
 */
export function sourceFingerprint() {
  let files = 0;
  let newest = 0;
  const walk = (dir) => {
    newest = Math.max(newest, statSync(dir).ctimeMs);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        files += 1;
        newest = Math.max(newest, statSync(full).ctimeMs);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir));
  // An installed package has no lock file: a missing input is no change.
  for (const file of BUILD_INPUTS) newest = Math.max(newest, statSync(path.join(ROOT, file), { throwIfNoEntry: false })?.ctimeMs ?? 0);
  return `${files} files, newest change ${newest}`;
}

/**
 * True when dist/ was built from the sources as they are now. Never throws: a missing stamp,
 * a missing dist/cli.js or an unreadable source folder all mean "run the sources".
 */
export function builtFromCurrentSources() {
  try {
    statSync(BUILT_CLI);
    return readFileSync(STAMP, 'utf8').trim() === sourceFingerprint();
  } catch {
    return false;
  }
}
