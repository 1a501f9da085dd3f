// Structured logs: one JSON line per event on stdout (pretty on a terminal), never a credential.
//
// Usage: `const log = createLogger(); const pairLog = log.child({ pair: 'docs' });
// pairLog.info({ event: 'upload', path, bytes, ms }, \`uploaded ${path}\`)` gives
// {"level":"info","time":"…","pid":1,"pair":"docs","event":"upload","path":"a.txt","bytes":3,"ms":12,"msg":"uploaded a.txt"}

import pino from 'pino';
import pretty from 'pino-pretty';
import { CREDENTIAL_FIELDS } from './config.js';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Field names whose values never reach a log line (credentials and the headers that carry them). */
const SECRET_KEYS = [
  ...CREDENTIAL_FIELDS,
  'credentials',
  'authorization',
  'Authorization',
  'x-amz-security-token',
  'X-Amz-Security-Token',
];

/** pino's redaction matches fixed depths, so each key is listed at the top level and 5 levels down. */
const REDACT_DEPTH = 5;
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) => {
  const leaf = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return Array.from({ length: REDACT_DEPTH + 1 }, (_, depth) => {
    const stars = '*.'.repeat(depth);
    // `*.` then a bracketed key reads `*["x"]`, not `*.["x"]`.
    return leaf.startsWith('[') ? `${stars.slice(0, -1)}${leaf}` : `${stars}${leaf}`;
  });
});

export const REDACTED = '[redacted]';

export class LogLevelError extends Error {
  override readonly name = 'LogLevelError';
}

export interface LoggerOptions {
  /**
   * Human-readable lines (pino-pretty) instead of JSON.
   * @default process.stdout.isTTY
   */
  pretty?: boolean;
  /**
   * Lowest level written: fatal, error, warn, info, debug, trace or silent.
   * @default process.env.SYNC_AGENT_LOG_LEVEL, else 'info'
   */
  level?: string;
  /**
   * ANSI colours in pretty output.
   * @default true when writing to stdout on a terminal
   */
  colorize?: boolean;
  /**
   * Where lines go.
   * @default stdout, written synchronously so nothing is lost when the CLI exits
   */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.SYNC_AGENT_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new LogLevelError(`log level "${level}" is not one of ${LOG_LEVELS.join(', ')} (SYNC_AGENT_LOG_LEVEL)`);
  }
  const base: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  if (opts.pretty ?? process.stdout.isTTY === true) {
    // A synchronous stream in this thread, not a worker transport: lines appear in order with the
    // progress bar, and none are lost on exit.
    const stream = pretty({
      sync: true,
      colorize: opts.colorize ?? (opts.destination === undefined && process.stdout.isTTY === true),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      destination: opts.destination ?? 1,
    });
    return pino(base, stream);
  }
  const json: pino.LoggerOptions = {
    ...base,
    // Names and ISO times read better in JSON lines than 30 and epoch milliseconds.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(json, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}
