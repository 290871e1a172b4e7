/**
 * The worker's key/value cache: one slab of keys, one of values and one of masks, allocated
 * once for `capacity` sessions, so a micro-turn never allocates. Each session owns a slot: a
 * ring of `window` positions per layer and head. A micro-turn's new keys and values are
 * written at the ring's head; nothing earlier is recomputed. When the ring is full, the oldest
 * positions are overwritten (a sliding window; keys carry their rotary position, so attention
 * stays correct) and the slot reports that its context is full, for compaction to take over.
 *
 * @module
 */
import type { CacheGeometry } from "./model/model_contract.ts";
import type { CacheView } from "./interaction_model.ts";

/** Raised when every slot is taken. */
export class NoFreeSlotError extends Error {
  /** @param capacity slots there are */
  constructor(capacity: number) {
    super(`all ${capacity} session slots are in use`);
    this.name = "NoFreeSlotError";
  }
}

/** Preallocated per-session key/value rings; see the module doc. */
export class KvCacheSlots {
  /** Sessions the slab holds. */
  readonly capacity: number;
  /** Floats in one slot's keys (or values). */
  readonly slotFloats: number;
  readonly #geometry: CacheGeometry;
  readonly #keys: Float32Array;
  readonly #values: Float32Array;
  readonly #masks: Float32Array;
  /** Per slot: ring head (next position to write), filled positions, next absolute position. */
  readonly #head: Int32Array;
  readonly #filled: Int32Array;
  readonly #position: Float64Array;
  readonly #free: number[];

  /**
   * @param capacity sessions
   * @param geometry the model's cache geometry
   */
  constructor(capacity: number, geometry: CacheGeometry) {
    this.capacity = capacity;
    this.#geometry = geometry;
    this.slotFloats = geometry.layers * geometry.heads * geometry.window * geometry.headSize;
    this.#keys = new Float32Array(capacity * this.slotFloats);
    this.#values = new Float32Array(capacity * this.slotFloats);
    this.#masks = new Float32Array(capacity * geometry.window);
    this.#head = new Int32Array(capacity);
    this.#filled = new Int32Array(capacity);
    this.#position = new Float64Array(capacity);
    this.#free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
  }

  /** Slots in use. */
  get used(): number {
    return this.capacity - this.#free.length;
  }

  /** Bytes the slabs hold. */
  get bytes(): number {
    return (this.#keys.length + this.#values.length + this.#masks.length) * 4;
  }

  /** Takes a free, empty slot; throws {@linkcode NoFreeSlotError} when none is left. */
  acquire(): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new NoFreeSlotError(this.capacity);
    return slot;
  }

  /** Empties a slot and returns it to the pool. */
  release(slot: number): void {
    this.reset(slot);
    this.#free.push(slot);
  }

  /** Empties a slot its session keeps (its context is about to be rebuilt). */
  reset(slot: number): void {
    this.#mask(slot).fill(0);
    this.#head[slot] = 0;
    this.#filled[slot] = 0;
    this.#position[slot] = 0;
  }

  /** The slot's cache, as the model reads it (views, no copies). */
  view(slot: number): CacheView {
    return {
      keys: this.#keys.subarray(slot * this.slotFloats, (slot + 1) * this.slotFloats),
      values: this.#values.subarray(slot * this.slotFloats, (slot + 1) * this.slotFloats),
      mask: this.#mask(slot),
    };
  }

  /** Absolute position the slot's next micro-turn starts at. */
  position(slot: number): number {
    return this.#position[slot];
  }

  /** Positions the slot's context holds (at most the window). */
  filled(slot: number): number {
    return this.#filled[slot];
  }

  /**
   * Appends `positions` new positions (`newKeys`/`newValues` laid out
   * `layers * heads * positions * headSize`). Returns whether the window is now full.
   */
  append(slot: number, newKeys: Float32Array, newValues: Float32Array, positions: number): boolean {
    const { layers, heads, window, headSize } = this.#geometry;
    const base = slot * this.slotFloats;
    const head = this.#head[slot];
    // Each layer-and-head's new positions are copied in contiguous runs, each stopping at the
    // ring's end (two at most while a step adds no more than the window).
    for (let done = 0; done < positions;) {
      const at = (head + done) % window;
      const count = Math.min(positions - done, window - at);
      for (let lh = 0; lh < layers * heads; lh++) {
        const from = (lh * positions + done) * headSize;
        const to = base + (lh * window + at) * headSize;
        this.#keys.set(newKeys.subarray(from, from + count * headSize), to);
        this.#values.set(newValues.subarray(from, from + count * headSize), to);
      }
      done += count;
    }
    const mask = this.#mask(slot);
    for (let p = 0; p < positions; p++) mask[(head + p) % window] = 1;
    this.#head[slot] = (head + positions) % window;
    this.#filled[slot] = Math.min(window, this.#filled[slot] + positions);
    this.#position[slot] += positions;
    return this.#filled[slot] === window;
  }

  #mask(slot: number): Float32Array {
    const { window } = this.#geometry;
    return this.#masks.subarray(slot * window, (slot + 1) * window);
  }
}
