#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then runs the CLI from source (no build step).
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every start that its 2027 releases will need Node 22; the lock file pins
// a release that supports Node 20, so the warning is noise in cron mail and pm2 logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../agent/cli.ts');
