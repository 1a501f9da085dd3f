// `npm run build` (npm ci runs it through "prepare"): the CLI as one bundle in dist/, for
// bin/sync-agent.js to run. One file set instead of ~60 of our own and ~400 of the packages' cuts a
// start's CPU by a third: a small no-op --reconcile took 850 ms per start from per-file JavaScript
// and 500 ms from the bundle (bench/results.md §9). Type checking is `npm run typecheck`'s job.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { DIST, STAMP, sourceFingerprint } from './build-stamp.js';

const ROOT = path.dirname(DIST);

// Taken before esbuild reads a source: an edit made during the build leaves dist/ unused.
const fingerprint = sourceFingerprint();
// No leftovers from an older layout (or a failed build) beside the new bundle.
rmSync(DIST, { recursive: true, force: true });

try {
  await build({
    entryPoints: [path.join(ROOT, 'agent', 'cli.ts')],
    outdir: DIST,
    bundle: true,
    // The commands and the SDKs stay behind the sources' dynamic imports: `status` or an fs-only
    // pair never loads the S3 SDK.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // The packages' ES module builds where they ship one: esbuild drops what is not used (the
    // AWS SDK's bundle 2.9 → 2.5 MB, start 540 → 500 ms CPU).
    mainFields: ['module', 'main'],
    // Loaded only for a qiniu remote, from node_modules as installed: a large CommonJS SDK whose
    // start-up does not matter to the S3 and fs paths; unbundled, no esbuild rewrite of its
    // require() calls stands between the agent and the SDK the Qiniu tests check.
    external: ['qiniu'],
    // Bundled CommonJS (pino, commander…) calls require() for Node's own modules, which an ES
    // module does not have.
    banner: { js: "import { createRequire as __syncAgentRequire } from 'node:module'; const require = __syncAgentRequire(import.meta.url);" },
    // Unminified: a stack trace names readable lines of dist/, each module headed by its source
    // path. The maps give the .ts lines with NODE_OPTIONS=--enable-source-maps; they are not on by
    // default because reading them costs ~0.3 s of CPU and ~25 MiB per start.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });
} catch {
  // esbuild has printed the errors; no stamp, so bin runs the sources.
  process.exit(1);
}
writeFileSync(STAMP, `${fingerprint}\n`);
