// pm2 process file: `pm2 start ecosystem.config.cjs` runs the daemon, `pm2 stop sync-agent` stops
// it gracefully (SIGINT: transfers in flight finish or are aborted, the manifest is saved).
//
// Environment read here, when pm2 loads this file:
//   SYNC_AGENT_CONFIG   the config file           @default ./agent.config.json (beside this file)
//   SYNC_AGENT_LOG_DIR  where pm2 writes the logs  @default ./logs (beside this file)
/* global require, module, __dirname -- pm2 loads this file as CommonJS */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS: pm2 require()s this file
const path = require('node:path');

/** Transfers in flight may finish for this long after a stop; the rest are aborted. */
const STOP_GRACE_MS = 10_000;

const logDir = process.env.SYNC_AGENT_LOG_DIR || path.join(__dirname, 'logs');

module.exports = {
  apps: [
    {
      name: 'sync-agent',
      script: 'bin/sync-agent.js',
      args: ['--config', process.env.SYNC_AGENT_CONFIG || path.join(__dirname, 'agent.config.json')],
      cwd: __dirname,
      exec_mode: 'fork',
      instances: 1,
      // Online only once the daemon says so: after the first full pass of every pair.
      wait_ready: true,
      // The first pass over a large tree or a slow bucket can take minutes; pm2 waits this long.
      listen_timeout: 300_000,
      // SIGINT first; SIGKILL only after the grace period plus time to save the manifest.
      kill_signal: 'SIGINT',
      kill_timeout: STOP_GRACE_MS + 5_000,
      autorestart: true,
      // A crash restarts after 5 s, not in a tight loop.
      restart_delay: 5_000,
      // 2 = invalid config, 4 = another agent holds the lock: restarting cannot fix either.
      stop_exit_codes: [2, 4],
      out_file: path.join(logDir, 'sync-agent.out.log'),
      error_file: path.join(logDir, 'sync-agent.err.log'),
      merge_logs: true,
      env: {
        SYNC_AGENT_STOP_GRACE_MS: String(STOP_GRACE_MS),
      },
    },
  ],
};
