// Time as an injected dependency, so the aggregator and reconciler can be driven by a fake clock in
// tests (no sleeps, no timed assertions) and by the system clock in production.

declare const timerBrand: unique symbol;

/** An opaque timer id: only the clock that made it can cancel it. */
export type TimerHandle = { readonly [timerBrand]: true };

export interface Clock {
  /** Milliseconds since the Unix epoch (wall time, used for status timestamps too). */
  now(): number;
  /** Calls `fn` once, after `ms` milliseconds (0 or more). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; cancelling one that already fired or was cancelled is a no-op. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  // The cast is the one place the brand is minted; Node's Timeout is what hides behind it.
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, Math.max(0, ms)) as unknown as TimerHandle,
  clearTimeout: (handle) => globalThis.clearTimeout(handle as unknown as NodeJS.Timeout),
};
