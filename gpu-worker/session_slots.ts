/**
 * Per-session model state in memory the worker allocates once: a slab of fixed-size slots
 * and a free list. Opening a session takes a slot, a micro-turn overwrites it in place,
 * closing returns it zeroed; nothing is allocated per micro-turn.
 *
 * @module
 */

/** Raised when every slot is taken. */
export class NoFreeSlotError extends Error {
  /** @param capacity how many slots the worker has */
  constructor(capacity: number) {
    super(`all ${capacity} session slots are in use`);
    this.name = "NoFreeSlotError";
  }
}

/** A fixed pool of state slots of one width. */
export class SessionSlots {
  readonly #slab: Float32Array;
  readonly #free: number[];
  /** Floats per slot. */
  readonly width: number;
  /** Number of slots. */
  readonly capacity: number;

  /**
   * @param capacity slots to preallocate
   * @param width floats per slot (the model's state width)
   */
  constructor(capacity: number, width: number) {
    this.capacity = capacity;
    this.width = width;
    this.#slab = new Float32Array(capacity * width);
    this.#free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
  }

  /** Slots in use. */
  get used(): number {
    return this.capacity - this.#free.length;
  }

  /** Takes a zeroed slot; throws {@linkcode NoFreeSlotError} when none is free. */
  acquire(): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new NoFreeSlotError(this.capacity);
    return slot;
  }

  /** The slot's state, a view into the slab (no copy). */
  state(slot: number): Float32Array {
    return this.#slab.subarray(slot * this.width, (slot + 1) * this.width);
  }

  /** Zeroes a slot and returns it to the pool. */
  release(slot: number): void {
    this.state(slot).fill(0);
    this.#free.push(slot);
  }
}
