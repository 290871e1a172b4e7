/**
 * The minimum of the values seen over a sliding window of time: a monotonic deque (each value
 * kept only while no later one is smaller) in two typed-array rings, so a long window holds no
 * objects. An edge keeps one a session, its entries living seconds: as arrays of pairs they
 * were copied by every young-generation collection until promoted.
 *
 * @module
 */

/** Sliding-window minimum over time; see the module doc. */
export class SlidingMinimum {
  readonly #windowMs: number;
  #times = new Float64Array(16);
  #values = new Float64Array(16);
  /** Ring position of the oldest entry. */
  #head = 0;
  #size = 0;

  /** @param windowMs how far back the minimum looks, in the pushes' time unit */
  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Adds `value` seen at time `at` (not before the previous push); returns the window's minimum. */
  push(at: number, value: number): number {
    const mask = this.#times.length - 1;
    while (this.#size > 0 && this.#values[(this.#head + this.#size - 1) & mask] >= value) {
      this.#size--;
    }
    if (this.#size === this.#times.length) this.#grow();
    const tail = (this.#head + this.#size) & (this.#times.length - 1);
    this.#times[tail] = at;
    this.#values[tail] = value;
    this.#size++;
    const oldest = at - this.#windowMs;
    while (this.#times[this.#head] < oldest) {
      this.#head = (this.#head + 1) & (this.#times.length - 1);
      this.#size--;
    }
    return this.#values[this.#head];
  }

  /** Forgets every value. */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const capacity = this.#times.length;
    const times = new Float64Array(2 * capacity);
    const values = new Float64Array(2 * capacity);
    for (let i = 0; i < this.#size; i++) {
      times[i] = this.#times[(this.#head + i) & (capacity - 1)];
      values[i] = this.#values[(this.#head + i) & (capacity - 1)];
    }
    this.#times = times;
    this.#values = values;
    this.#head = 0;
  }
}
