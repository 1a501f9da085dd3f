#!/usr/bin/env node
// Entry point. Runs the prebuilt bundle dist/cli.js (`npm run build`, done by `npm ci`) when it
// was built from the sources as they are now: registering tsx costs ~0.4 s of CPU and ~30 MiB on
// every start (bench/results.md §5), per-file JavaScript ~0.35 s more than the bundle (§9).
// Otherwise, or with SYNC_AGENT_SOURCE=1, it registers tsx and runs agent/cli.ts, so an edit
// without a rebuild never runs stale code.
import { builtFromCurrentSources } from './build-stamp.js';

// The AWS SDK warns on every start that its 2027 releases will need Node 22; the lock file pins
// a release that supports Node 20, so the warning is noise in cron mail and pm2 logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (process.env.SYNC_AGENT_SOURCE !== '1' && builtFromCurrentSources()) {
  // Stack traces name lines of the readable bundle; NODE_OPTIONS=--enable-source-maps maps them
  // to the .ts lines (bin/build.js says why that is not the default).
  await import('../dist/cli.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../agent/cli.ts');
}
