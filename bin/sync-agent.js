#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then runs the CLI from source (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../agent/cli.ts');
