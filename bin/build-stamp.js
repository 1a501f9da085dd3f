// The build stamp: a fingerprint of the TypeScript sources that dist/ was built from, so that
// bin/sync-agent.js runs dist/ only when it matches the sources as they are now.
//
// `npm run build` runs `node bin/build-stamp.js begin` (prebuild), `tsc -p tsconfig.build.json`,
// then `node bin/build-stamp.js end` (postbuild). The fingerprint is taken BEFORE tsc reads the
// sources: an edit made while tsc runs changes the sources' fingerprint, so it no longer matches and
// the half-stale output is never used. A failed tsc leaves no stamp at all (bin then runs source).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What tsconfig.build.json compiles, plus the compiler options that shape the output. */
const SOURCE_DIRS = ['agent', 'providers', 'state'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json'];

const DIST = path.join(ROOT, 'dist');
const BUILT_CLI = path.join(DIST, 'agent', 'cli.js');
const STAMP = path.join(DIST, '.build-stamp');
const PENDING = `${STAMP}.pending`;

/**
 * The sources' fingerprint: how many .ts files, and the newest status change (ctime) among them,
 * their folders and the tsconfig files. ctime, not mtime: a tool cannot set it back, and a rename or
 * delete changes the folder's ctime. About 60 stat calls, ~1 ms.
 * @returns e.g. `51 files, newest change 1763796603027.123`
 */
function sourceFingerprint() {
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
  for (const file of CONFIG_FILES) newest = Math.max(newest, statSync(path.join(ROOT, file)).ctimeMs);
  return `${files} files, newest change ${newest}`;
}

/**
 * True when dist/ was built from the sources as they are now. Never throws: a missing stamp,
 * a missing dist/agent/cli.js or an unreadable source folder all mean "run the sources".
 */
export function builtFromCurrentSources() {
  try {
    statSync(BUILT_CLI);
    return readFileSync(STAMP, 'utf8').trim() === sourceFingerprint();
  } catch {
    return false;
  }
}

function begin() {
  rmSync(STAMP, { force: true });
  mkdirSync(DIST, { recursive: true });
  writeFileSync(PENDING, `${sourceFingerprint()}\n`);
}

function end() {
  try {
    renameSync(PENDING, STAMP);
  } catch {
    process.stderr.write('build-stamp: no dist/.build-stamp.pending: run the build as `npm run build`, which takes the fingerprint first\n');
    process.exit(1);
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const step = process.argv[2];
  if (step === 'begin') begin();
  else if (step === 'end') end();
  else {
    process.stderr.write(`usage: node bin/build-stamp.js begin|end (got ${step ?? 'nothing'})\n`);
    process.exit(2);
  }
}
