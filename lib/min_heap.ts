/**
 * A binary min-heap of values by numeric key. Keys and values live in two arrays that keep
 * their capacity, so a push and a pop allocate nothing once the heap has grown: a heap that
 * turns over thousands of entries a second makes no garbage.
 *
 * @module
 */

/** Values ordered by a numeric key, smallest first; equal keys come out in no set order. */
export class MinHeap<T> {
  readonly #keys: number[] = [];
  readonly #values: (T | undefined)[] = [];
  #size = 0;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** The smallest key, or Infinity when empty. */
  peekKey(): number {
    return this.#size > 0 ? this.#keys[0] : Infinity;
  }

  /** Adds `value` under `key`. */
  push(key: number, value: T): void {
    let at = this.#size++;
    // Sift up: move parents down until the new key's place is found.
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (this.#keys[parent] <= key) break;
      this.#keys[at] = this.#keys[parent];
      this.#values[at] = this.#values[parent];
      at = parent;
    }
    this.#keys[at] = key;
    this.#values[at] = value;
  }

  /** Removes the entry of the smallest key and returns its value; undefined when empty. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const top = this.#values[0];
    const size = --this.#size;
    const key = this.#keys[size];
    const value = this.#values[size];
    this.#values[size] = undefined; // the heap holds no value it has given back
    // Sift down the last entry from the root.
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      if (child + 1 < size && this.#keys[child + 1] < this.#keys[child]) child++;
      if (this.#keys[child] >= key) break;
      this.#keys[at] = this.#keys[child];
      this.#values[at] = this.#values[child];
      at = child;
    }
    if (size > 0) {
      this.#keys[at] = key;
      this.#values[at] = value;
    }
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.#values.fill(undefined, 0, this.#size);
    this.#size = 0;
  }
}
