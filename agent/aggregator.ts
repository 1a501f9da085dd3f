// Turns a stream of raw watcher events into a few batches of "look at these paths again".
// Pure logic over an injected Clock (no I/O), after Syncthing's watch aggregator: a quiet period
// per path, a cap for paths that never go quiet, removes held back so an atomic save reads as a
// change, overflow collapsing to one full pass, and the agent's own writes dropped as echoes.
import type { Clock, TimerHandle } from './clock.js';
import { TEMP_PREFIX } from './paths.js';

/** True when the last segment of a sync key is one of the agent's temp files. */
export function isAgentTempKey(key: string): boolean {
  return key.slice(key.lastIndexOf('/') + 1).startsWith(TEMP_PREFIX);
}

/** One watcher hint: `path` is a sync key ('/'-separated, relative to the root, NFC). */
export interface WatchEvent {
  readonly path: string;
  readonly removed: boolean;
}

/** What the consumer receives: paths to re-stat and re-plan, or a request for a full pass. */
// `since`: clock time of the oldest event in the batch (status shows the oldest unsynced change).
export type FlushBatch =
  | { readonly kind: 'paths'; readonly paths: ReadonlySet<string>; readonly since: number }
  | { readonly kind: 'full'; readonly reason: string; readonly since: number };

export interface AggregatorOptions {
  readonly clock: Clock;
  /** Quiet time before a changed path is released (the pair's `debounceMs`). */
  readonly debounceMs: number;
  /**
   * A path that keeps changing is released anyway this long after its first event.
   * @default Math.max(6 * debounceMs, 2000)
   */
  readonly maxDelayMs?: number;
  /**
   * Quiet time for a path whose latest event is a remove; longer than `debounceMs` so that an
   * atomic save (write a temp file, rename it over) is seen as a change, never as a delete.
   * @default debounceMs + 1000
   */
  readonly removeHoldMs?: number;
  /**
   * A remove quiet for at least this long rides along with a batch of non-removes being released
   * (give or take the batching slack, debounceMs / 4), so both halves of a rename are planned in
   * one pass and become a server-side move; a remove alone still waits for `removeHoldMs`.
   * @default undefined (removes always wait for their own hold)
   */
  readonly removeRideAlongMs?: number;
  /**
   * Past this many pending paths the batch collapses to one full pass.
   * @default 1000
   */
  readonly maxPaths?: number;
  /**
   * Events for a path are dropped for this long after the agent wrote or deleted it.
   * @default 2000
   */
  readonly echoWindowMs?: number;
  /** Receives each batch; it is called from a timer, so it should not throw. */
  readonly onFlush: (batch: FlushBatch) => void;
}

/** `removed`: the latest event was a remove, so the longer hold applies. */
interface Pending { firstSeen: number; lastSeen: number; removed: boolean }

interface Overflow { firstSeen: number; lastSeen: number; events: number }
/** `writers`: beginWrite calls not yet ended; `until`: end of the echo window. */
interface Echo { writers: number; until: number }

function checkMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`aggregator option ${name} must be a finite number ≥ 0, got ${value}`);
  }
  return value;
}

export class Aggregator {
  readonly #clock: Clock;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #removeHoldMs: number;
  readonly #rideAlongMs: number | undefined;
  readonly #maxPaths: number;
  readonly #echoWindowMs: number;
  /** Paths due this soon after a firing timer go out with it, so a burst becomes one batch. */
  readonly #slackMs: number;
  readonly #onFlush: (batch: FlushBatch) => void;

  // Map order is first-seen order: the first entry is always the oldest pending path.
  readonly #pending = new Map<string, Pending>();
  #overflow: Overflow | undefined;
  readonly #echoes = new Map<string, Echo>();
  #echoSweepAt = 1024;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #closed = false;

  constructor(opts: AggregatorOptions) {
    this.#clock = opts.clock;
    this.#debounceMs = checkMs('debounceMs', opts.debounceMs);
    const maxDelayMs = opts.maxDelayMs ?? Math.max(6 * this.#debounceMs, 2000);
    this.#maxDelayMs = checkMs('maxDelayMs', maxDelayMs);
    this.#removeHoldMs = checkMs('removeHoldMs', opts.removeHoldMs ?? this.#debounceMs + 1000);
    const ride = opts.removeRideAlongMs;
    this.#rideAlongMs = ride === undefined ? undefined : checkMs('removeRideAlongMs', ride);
    this.#maxPaths = checkMs('maxPaths', opts.maxPaths ?? 1000);
    this.#echoWindowMs = checkMs('echoWindowMs', opts.echoWindowMs ?? 2000);
    this.#slackMs = this.#debounceMs / 4;
    this.#onFlush = opts.onFlush;
  }

  /** Records one watcher event; temp files and the agent's own echoes are dropped here. */
  push(ev: WatchEvent): void {
    if (this.#closed || ev.path === '' || isAgentTempKey(ev.path)) return;
    const now = this.#clock.now();
    if (this.#isEcho(ev.path, now)) return;
    if (this.#overflow !== undefined) {
      // Already collapsed to a full pass: only its quiet time moves.
      this.#overflow.lastSeen = now;
      this.#overflow.events++;
      this.#schedule(this.#overflowDue(this.#overflow));
      return;
    }
    let p = this.#pending.get(ev.path);
    if (p === undefined) {
      p = { firstSeen: now, lastSeen: now, removed: ev.removed };
      this.#pending.set(ev.path, p);
      if (this.#pending.size > this.#maxPaths) {
        this.#collapse(now);
        return;
      }
    } else {
      p.lastSeen = now;
      p.removed = ev.removed;
    }
    this.#schedule(this.#wakeAt(p));
  }

  /** Drops events for `path` from now until `echoWindowMs` from now (the agent's own write). */
  expectEcho(path: string): void {
    const e = this.#echo(path);
    e.until = Math.max(e.until, this.#clock.now() + this.#echoWindowMs);
  }

  /** Drops events for `path` while the agent writes it; pair every call with endWrite. */
  beginWrite(path: string): void {
    this.#echo(path).writers++;
  }

  /** Ends a beginWrite; events keep being dropped for `echoWindowMs` after this. */
  endWrite(path: string): void {
    const e = this.#echo(path);
    e.writers = Math.max(0, e.writers - 1);
    e.until = Math.max(e.until, this.#clock.now() + this.#echoWindowMs);
  }

  /** Paths waiting to be released (after an overflow: the events absorbed by the full pass). */
  pendingCount(): number {
    return this.#overflow?.events ?? this.#pending.size;
  }

  /** Clock time of the oldest unreleased event, or undefined when nothing is pending. */
  oldestPendingSince(): number | undefined {
    return this.#overflow?.firstSeen ?? this.#pending.values().next().value?.firstSeen;
  }

  /** Releases everything now, held removes included (e.g. before a full pass or at shutdown). */
  flushNow(): void {
    this.#cancelTimer();
    const batch = this.#take(Infinity);
    if (batch !== undefined) this.#onFlush(batch);
  }

  /** Cancels the timer and forgets pending paths; later pushes are ignored. */
  close(): void {
    this.#closed = true;
    this.#cancelTimer();
    this.#pending.clear();
    this.#overflow = undefined;
    this.#echoes.clear();
  }

  #collapse(now: number): void {
    const firstSeen = this.oldestPendingSince() ?? now;
    this.#overflow = { firstSeen, lastSeen: now, events: this.#pending.size };
    this.#pending.clear();
    // The timer may be set for a path just dropped; reset it for the overflow alone.
    this.#cancelTimer();
    this.#schedule(this.#overflowDue(this.#overflow));
  }

  /** When the path may be released: quiet for debounceMs (removes: removeHoldMs) or capped. */
  #dueAt(p: Pending): number {
    const due = Math.min(p.lastSeen + this.#debounceMs, p.firstSeen + this.#maxDelayMs);
    // A remove is never released before its hold, cap or not: the re-add may still be coming.
    return p.removed ? Math.max(due, p.lastSeen + this.#removeHoldMs) : due;
  }

  /** Removes wake a slack late: a burst of deletes is gathered, none released before its hold. */
  #wakeAt(p: Pending): number {
    return p.removed ? this.#dueAt(p) + this.#slackMs : this.#dueAt(p);
  }

  #overflowDue(o: Overflow): number {
    return Math.min(o.lastSeen + this.#debounceMs, o.firstSeen + this.#maxDelayMs);
  }

  #schedule(at: number): void {
    if (this.#closed || at >= this.#timerAt) return;
    this.#cancelTimer();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), at - this.#clock.now());
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const batch = this.#take(this.#clock.now());
    this.#rescheduleRemaining();
    // State is settled before the callback, so a consumer that pushes from it sees a clean slate.
    if (batch !== undefined) this.#onFlush(batch);
  }

  /**
   * Removes and returns everything due by `now`, plus non-removes due within the slack when
   * something is really due (a timer left over from a path that changed since takes nothing).
   * Non-removes come first in the batch, then removes.
   */
  #take(now: number): FlushBatch | undefined {
    const o = this.#overflow;
    if (o !== undefined) {
      if (this.#overflowDue(o) > now) return undefined;
      this.#overflow = undefined;
      return {
        kind: 'full',
        reason: `more than ${this.#maxPaths} paths changed at once (${o.events} events)`,
        since: o.firstSeen,
      };
    }
    if (![...this.#pending.values()].some((p) => this.#dueAt(p) <= now)) return undefined;
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [path, p] of this.#pending) {
      if (!p.removed && this.#dueAt(p) <= now + this.#slackMs) changed.push(path);
    }
    const ride = this.#rideAlongMs;
    for (const [path, p] of this.#pending) {
      if (!p.removed) continue;
      // The other half of a rename: quiet long enough that it is not an atomic save in progress.
      const rides =
        ride !== undefined && changed.length > 0 && p.lastSeen + ride <= now + this.#slackMs;
      if (rides || this.#dueAt(p) <= now) removed.push(path);
    }
    let since = now;
    for (const path of [...changed, ...removed]) {
      since = Math.min(since, this.#pending.get(path)?.firstSeen ?? now);
      this.#pending.delete(path);
    }
    return { kind: 'paths', paths: new Set([...changed, ...removed]), since };
  }

  #rescheduleRemaining(): void {
    // Nothing is pending per path while collapsed, so at most one of the two terms applies.
    let at = this.#overflow === undefined ? Infinity : this.#overflowDue(this.#overflow);
    for (const p of this.#pending.values()) at = Math.min(at, this.#wakeAt(p));
    if (at !== Infinity) this.#schedule(at);
  }

  #isEcho(path: string, now: number): boolean {
    const e = this.#echoes.get(path);
    if (e === undefined) return false;
    if (e.writers > 0 || now <= e.until) return true;
    this.#echoes.delete(path);
    return false;
  }

  #echo(path: string): Echo {
    let e = this.#echoes.get(path);
    if (e === undefined) {
      // Sweep before inserting: the fresh entry has no window yet and would be swept itself.
      if (this.#echoes.size >= this.#echoSweepAt) this.#sweepEchoes();
      e = { writers: 0, until: 0 };
      this.#echoes.set(path, e);
    }
    return e;
  }

  /** Forgets expired echo windows; amortised by doubling the threshold after each sweep. */
  #sweepEchoes(): void {
    const now = this.#clock.now();
    for (const [path, e] of this.#echoes) {
      if (e.writers === 0 && now > e.until) this.#echoes.delete(path);
    }
    this.#echoSweepAt = Math.max(1024, 2 * this.#echoes.size);
  }
}
