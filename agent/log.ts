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

/**
 * Field names (compared case-insensitively) whose values never reach a log line: credentials and
 * the headers that carry them. Credentials live in the environment and in config objects, never
 * in action lines; this is the net for a config, an SDK error or a request that gets logged.
 */
const SECRET_KEYS: ReadonlySet<string> = new Set(
  [...CREDENTIAL_FIELDS, 'credentials', 'authorization', 'x-amz-security-token'].map((k) => k.toLowerCase()),
);

/** How deep secrets are looked for: the key at the top level and 5 levels down. */
const MAX_DEPTH = 5;

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

/** pino's own mark for a reference back to an enclosing object. */
const CIRCULAR = '[Circular]';

/**
 * `value` with the value of every secret field replaced by REDACTED, down to MAX_DEPTH (as deep
 * as pino prints: its depthLimit is 5 too). Returns the same object when there is nothing to hide
 * (the common case: an action line is a few strings and numbers, checked in well under a
 * microsecond), and copies only the objects on the way to a secret, so the caller's object is
 * never changed. `above` holds the objects enclosing `value`: its length is the depth, and it tells
 * a cycle.
 *
 * Why not pino's `redact`: its paths have fixed depths, so every key needs a wildcard path per
 * level, and @pinojs/redact then runs on every value of every line (1.8% of a first upload,
 * bench/results.md §4).
 */
function scrub(value: unknown, above: object[]): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  // A copy made on the way to a secret would unroll a cycle that pino prints as "[Circular]".
  if (above.includes(value)) return CIRCULAR;
  if (above.length > MAX_DEPTH) return value;
  above.push(value);
  try {
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      value.forEach((item: unknown, i) => {
        const next = scrub(item, above);
        if (next !== item) (copy ??= [...value])[i] = next;
      });
      return copy ?? value;
    }
    if (value instanceof Error) return scrubError(value, above);
    const record = value as Record<string, unknown>;
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(record)) {
      const item = record[key];
      const next = scrubField(key, item, above);
      if (next !== item) (copy ??= { ...record })[key] = next;
    }
    return copy ?? value;
  } finally {
    above.pop();
  }
}

const scrubField = (key: string, item: unknown, above: object[]): unknown =>
  item !== undefined && SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : scrub(item, above);

/**
 * An error keeps its class, message, stack and cause in the copy (pino's err serializer reads
 * them), so it is cloned from its property descriptors rather than spread into a plain object.
 */
function scrubError(error: Error, above: object[]): Error {
  const descriptors = Object.getOwnPropertyDescriptors(error) as Record<string, PropertyDescriptor>;
  let changed = false;
  for (const [key, d] of Object.entries(descriptors)) {
    if (!('value' in d)) continue;
    const next = scrubField(key, d.value, above);
    if (next !== d.value) {
      d.value = next;
      changed = true;
    }
  }
  return changed ? (Object.create(Object.getPrototypeOf(error) as object, descriptors) as Error) : error;
}

const scrubFields = (fields: Record<string, unknown>): Record<string, unknown> => scrub(fields, []) as Record<string, unknown>;

/**
 * pino runs no formatter over a child's bindings (it resets `formatters.bindings` for children),
 * so `child` scrubs them first. A child is `Object.create(parent)`, so grandchildren inherit this.
 */
function scrubChildBindings(logger: Logger): Logger {
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return pinoChild.call(this, scrub(bindings, []) as pino.Bindings, options);
  } as Logger['child'];
  return logger;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.SYNC_AGENT_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new LogLevelError(`log level "${level}" is not one of ${LOG_LEVELS.join(', ')} (SYNC_AGENT_LOG_LEVEL)`);
  }
  const base: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    // Once per line over the fields; a child's bindings are scrubbed once, when it is made.
    formatters: { log: scrubFields },
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
    return scrubChildBindings(pino(base, stream));
  }
  const json: pino.LoggerOptions = {
    ...base,
    // Names and ISO times read better in JSON lines than 30 and epoch milliseconds.
    formatters: { ...base.formatters, level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return scrubChildBindings(pino(json, opts.destination ?? pino.destination({ dest: 1, sync: true })));
}
