/**
 * A map keyed by small, mostly increasing integers, such as the indexes of the few micro-turns
 * a session has in flight, that allocates nothing as keys come and go: key `k` lives in slot
 * `k % capacity`. A long-lived `Map` with keys coming and going re-hashes its table every few
 * changes, and since the map itself is old, each new table outlives V8's young generation:
 * garbage every session made several times a second, copied at every scavenge and freed only by
 * a full collection. A key whose slot another key holds goes to a `Map` beside the slots, so any
 * set of keys is kept, just not for free.
 *
 * @module
 */

/** An integer-keyed map in fixed slots; see the module doc. */
export class IndexSlots<T> {
  readonly #keys: Float64Array;
  readonly #values: (T | undefined)[];
  readonly #overflow = new Map<number, T>();
  #size = 0;

  /** @param capacity slots: the keys usually held at once, with room to spare */
  constructor(capacity = 16) {
    this.#keys = new Float64Array(capacity).fill(NaN);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
  }

  /** Entries held. */
  get size(): number {
    return this.#size + this.#overflow.size;
  }

  /** The value for `key`, if any. */
  get(key: number): T | undefined {
    const slot = this.#slot(key);
    if (this.#keys[slot] === key) return this.#values[slot];
    return this.#overflow.size > 0 ? this.#overflow.get(key) : undefined;
  }

  /** Sets `key` to `value`. */
  set(key: number, value: T): void {
    const slot = this.#slot(key);
    if (this.#keys[slot] === key) {
      this.#values[slot] = value;
    } else if (Number.isNaN(this.#keys[slot])) {
      this.#keys[slot] = key;
      this.#values[slot] = value;
      this.#size++;
      // It may have gone beside the slots while another key held this one.
      if (this.#overflow.size > 0) this.#overflow.delete(key);
    } else {
      this.#overflow.set(key, value);
    }
  }

  /** Removes `key` and returns its value, if any. */
  take(key: number): T | undefined {
    const slot = this.#slot(key);
    if (this.#keys[slot] === key) {
      const value = this.#values[slot];
      this.#keys[slot] = NaN;
      this.#values[slot] = undefined;
      this.#size--;
      return value;
    }
    if (this.#overflow.size === 0) return undefined;
    const value = this.#overflow.get(key);
    this.#overflow.delete(key);
    return value;
  }

  /** Removes every key below `key`. */
  deleteBelow(key: number): void {
    for (let slot = 0; slot < this.#keys.length; slot++) {
      if (this.#keys[slot] < key) this.take(this.#keys[slot]);
    }
    for (const other of this.#overflow.keys()) if (other < key) this.#overflow.delete(other);
  }

  /** Removes every entry and returns their values in key order. */
  takeAll(): T[] {
    const entries = [...this.#overflow];
    for (let slot = 0; slot < this.#keys.length; slot++) {
      if (!Number.isNaN(this.#keys[slot])) entries.push([this.#keys[slot], this.#values[slot]!]);
    }
    this.#keys.fill(NaN);
    this.#values.fill(undefined);
    this.#overflow.clear();
    this.#size = 0;
    return entries.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
  }

  #slot(key: number): number {
    const capacity = this.#keys.length;
    return ((key % capacity) + capacity) % capacity;
  }
}
