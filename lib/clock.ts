/**
 * Time, injected: logic reads a {@linkcode Clock} instead of `Date.now()`, so tests and
 * benchmarks drive it.
 *
 * @module
 */

/** A source of wall-clock time in ms since the epoch. */
export interface Clock {
  /** Current time in ms since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  #now: number;
  /** @param startMs initial time */
  constructor(startMs = 0) {
    this.#now = startMs;
  }
  /** Current time. */
  now(): number {
    return this.#now;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
}
