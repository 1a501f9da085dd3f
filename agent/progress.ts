// The `--reconcile` progress bar on a terminal: files and bytes done of the total, rate and ETA,
// on stderr, with log lines printed above it. Off a terminal it draws nothing (the logs already tell
// the story as JSON lines). The summary line is the CLI's, not this bar's.

import { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatDuration } from './status.js';

export interface Progress {
  /** Sets the work of the pass; calling it again adds to the totals (another pair's plan). */
  start(totalFiles: number, totalBytes: number): void;
  /** Counts finished actions (done or failed) and the bytes they moved. */
  advance(files: number, bytes: number): void;
  /** Prints a line above the bar (as is, without a bar: to the stream). */
  log(line: string): void;
  /** Draws the final state and gives the terminal back. Idempotent. */
  stop(): void;
  /**
   * A stream that prints each written line through `log`: pass it as the logger's destination so
   * pretty log lines do not tear through the bar.
   */
  readonly lines: NodeJS.WritableStream;
}

export interface ProgressOptions {
  /** Draw a bar (the CLI passes whether it runs on a terminal); also needs `stream` to be a TTY. */
  tty: boolean;
  /**
   * Where the bar goes.
   * @default process.stderr
   */
  stream?: NodeJS.WriteStream;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** `999 B`, `1.5 MB`, `12 GB`: decimal units, as disks and buckets are sold. */
export function formatBytes(n: number): string {
  let v = Math.max(0, n);
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

interface Totals {
  files: number;
  bytes: number;
  doneFiles: number;
  doneBytes: number;
  startedMs: number;
}

/**
 * Share of the work done: files and bytes count half each, so a run of deletes (no bytes) and a
 * single huge upload (one file) both move the bar.
 */
function fraction(t: Totals): number {
  const f = t.files > 0 ? Math.min(1, t.doneFiles / t.files) : 1;
  const b = t.bytes > 0 ? Math.min(1, t.doneBytes / t.bytes) : f;
  return (f + b) / 2;
}

export function renderLine(t: Totals, now: number, bar: string): string {
  const p = fraction(t);
  const elapsedS = Math.max(0.001, (now - t.startedMs) / 1000);
  const rate = t.doneBytes / elapsedS;
  const eta = p > 0 && p < 1 ? formatDuration(((now - t.startedMs) * (1 - p)) / p) : p >= 1 ? '0s' : '--';
  return (
    `${bar} ${Math.floor(p * 100)}% | ${t.doneFiles.toLocaleString('en-US')}/${t.files.toLocaleString('en-US')} files | ` +
    `${formatBytes(t.doneBytes)}/${formatBytes(t.bytes)} | ${formatBytes(rate)}/s | ETA ${eta}`
  );
}

/** Splits written chunks into lines for `log`, keeping a partial last line for the next write. */
function lineStream(log: (line: string) => void): Writable {
  let rest = '';
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) log(p);
      done();
    },
    final(done) {
      if (rest !== '') log(rest);
      rest = '';
      done();
    },
  });
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  // cli-progress holds log lines until the next redraw and never redraws off a terminal.
  if (!opts.tty || stream.isTTY !== true) {
    const log = (line: string): void => void stream.write(`${line}\n`);
    return { start() {}, advance() {}, log, stop() {}, lines: lineStream(log) };
  }

  const totals: Totals = { files: 0, bytes: 0, doneFiles: 0, doneBytes: 0, startedMs: 0 };
  const multi = new cliProgress.MultiBar(
    {
      stream,
      // The whole line is ours: cli-progress' own ETA follows value changes, ours follows the work.
      format: (options, params) =>
        renderLine(totals, Date.now(), cliProgress.Format.BarFormat(params.progress, options)),
      barsize: 24,
      fps: 5,
      clearOnComplete: false,
      // The daemon and the CLI own signals; a hidden cursor would outlive a killed process.
      hideCursor: false,
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let stopped = false;
  const SCALE = 10_000; // the bar's own value is the fraction, on a fine scale
  const redraw = () => bar?.update(Math.round(fraction(totals) * SCALE));

  const log = (line: string): void => {
    // Before the bar exists or after it is gone, there is nothing to draw around.
    if (bar === undefined || stopped) stream.write(`${line}\n`);
    else multi.log(`${line}\n`);
  };
  return {
    start(totalFiles, totalBytes) {
      if (stopped) return;
      totals.files += totalFiles;
      totals.bytes += totalBytes;
      if (bar === undefined) {
        totals.startedMs = Date.now();
        bar = multi.create(SCALE, 0);
      }
      redraw();
    },
    advance(files, bytes) {
      if (bar === undefined || stopped) return;
      totals.doneFiles += files;
      totals.doneBytes += bytes;
      redraw();
    },
    log,
    stop() {
      if (stopped) return;
      stopped = true;
      if (bar === undefined) return;
      // MultiBar.stop() drops log lines not drawn yet; one last update prints them.
      multi.update();
      multi.stop();
    },
    lines: lineStream(log),
  };
}
