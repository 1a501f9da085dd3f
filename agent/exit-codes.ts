// The contract's exit codes (PRODUCT.md §1), in one place.
export const EXIT = {
  /** All done. */
  ok: 0,
  /** Some actions failed (they are listed). */
  failed: 1,
  /** Bad usage or invalid config (a message naming the field). */
  usage: 2,
  /** A safety guard stopped the pass. */
  guard: 3,
  /** Another agent holds the lock. */
  locked: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the program with a given code and a message for the user. */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
  }
}
