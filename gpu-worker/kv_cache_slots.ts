/**
 * The worker's key/value cache: per layer, one keys tensor and one values tensor in the
 * execution provider's memory (device memory on a GPU), allocated once for `capacity`
 * sessions and never copied. Each session owns a slot: a ring of `cacheLength` positions. The
 * model writes a step's new positions at the ring's head, in place; nothing earlier is
 * recomputed. Past the window a query no longer sees the oldest positions and the ring
 * overwrites them (a sliding window; keys carry their rotary position, so ring order does not
 * matter), and the slot reports that its context is full, for compaction to take over.
 *
 * This class keeps the host's side of it: which slots are free (the lowest first, so the
 * slots a step binds stay a short prefix of the slab), and each slot's ring head, filled
 * positions and absolute position.
 *
 * @module
 */
import { type CacheGeometry, keyTensorDims, valueTensorDims } from "./model/model_contract.ts";
import type { OrtModelSession, OrtTensor } from "./ort/ort_session.ts";
import { DeviceOutOfMemoryError } from "./ort/ort_session.ts";
import { tensorBytes } from "./ort/ort_api.ts";

/** Raised when every slot is taken. */
export class NoFreeSlotError extends Error {
  /** @param capacity slots there are */
  constructor(capacity: number) {
    super(`all ${capacity} session slots are in use`);
    this.name = "NoFreeSlotError";
  }
}

/** Raised at start when the device cannot hold the configured capacity; says what would fit. */
export class CacheCapacityError extends Error {
  /** Sessions the device could hold (estimated from what was allocated before the failure). */
  readonly fits: number;
  /**
   * @param capacity sessions configured
   * @param fits sessions that would fit
   * @param slotBytes bytes one session's cache takes
   * @param detail the allocation failure
   */
  constructor(capacity: number, fits: number, slotBytes: number, detail: string) {
    super(
      `the device cannot hold the key/value cache of ${capacity} sessions (${
        (slotBytes / 2 ** 20).toFixed(1)
      } MiB each); about ${fits} fit (${detail})`,
    );
    this.name = "CacheCapacityError";
    this.fits = fits;
  }
}

/** Preallocated per-session key/value rings; see the module doc. */
export class KvCacheSlots {
  /** Sessions the slab holds. */
  readonly capacity: number;
  /** The model's cache geometry. */
  readonly geometry: CacheGeometry;
  /** Bytes one slot's keys and values take, over all layers. */
  readonly slotBytes: number;
  readonly #session: OrtModelSession;
  readonly #keys: OrtTensor[] = [];
  readonly #values: OrtTensor[] = [];
  /** Per slot: ring head (next position to write), filled positions, next absolute position. */
  readonly #head: Int32Array;
  readonly #filled: Int32Array;
  readonly #position: Float64Array;
  /** Per slot: bumped whenever the slot is emptied, so a step begun before knows it is stale. */
  readonly #generation: Uint32Array;
  readonly #used: Uint8Array;
  /** Free slots, highest first, so `pop` returns the lowest. */
  #free: number[];
  #views: { span: number; keys: OrtTensor[]; values: OrtTensor[] } | undefined;
  /** What holds views of the cache and must go before its memory does. */
  readonly #dependents: { release(): void }[] = [];

  /**
   * Allocates the cache of `capacity` sessions on the session's provider. Throws
   * {@linkcode CacheCapacityError} when the device cannot hold it.
   */
  constructor(session: OrtModelSession, capacity: number, geometry: CacheGeometry) {
    this.capacity = capacity;
    this.geometry = geometry;
    this.#session = session;
    const { layers, cacheType } = geometry;
    this.slotBytes = layers * (tensorBytes(cacheType, keyTensorDims(geometry, 1)) +
      tensorBytes(cacheType, valueTensorDims(geometry, 1)));
    try {
      for (let l = 0; l < layers; l++) {
        this.#keys.push(session.deviceTensor(cacheType, keyTensorDims(geometry, capacity)));
        this.#values.push(session.deviceTensor(cacheType, valueTensorDims(geometry, capacity)));
      }
    } catch (error) {
      const allocated = (this.#keys.length + this.#values.length) / (2 * layers);
      this.release();
      if (error instanceof DeviceOutOfMemoryError) {
        throw new CacheCapacityError(
          capacity,
          Math.floor(allocated * capacity),
          this.slotBytes,
          error.message,
        );
      }
      throw error;
    }
    this.#head = new Int32Array(capacity);
    this.#filled = new Int32Array(capacity);
    this.#position = new Float64Array(capacity);
    this.#generation = new Uint32Array(capacity);
    this.#used = new Uint8Array(capacity);
    this.#free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
  }

  /** Slots in use. */
  get used(): number {
    return this.capacity - this.#free.length;
  }

  /** Bytes the cache holds. */
  get bytes(): number {
    return this.capacity * this.slotBytes;
  }

  /** Slots a step must bind: up to the highest slot in use. */
  get span(): number {
    for (let slot = this.capacity - 1; slot >= 0; slot--) if (this.#used[slot]) return slot + 1;
    return 0;
  }

  /** Takes the lowest free slot, empty; throws {@linkcode NoFreeSlotError} when none is left. */
  acquire(): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new NoFreeSlotError(this.capacity);
    this.#used[slot] = 1;
    this.reset(slot);
    return slot;
  }

  /** Empties a slot and returns it to the pool. */
  release(slot: number): void;
  /** Releases the device memory (the cache is unusable afterwards). */
  release(): void;
  release(slot?: number): void {
    if (slot === undefined) {
      for (const dependent of this.#dependents.splice(0)) dependent.release();
      this.#releaseViews();
      for (const tensor of [...this.#keys, ...this.#values]) tensor.release();
      return;
    }
    if (!this.#used[slot]) return;
    this.reset(slot);
    this.#used[slot] = 0;
    this.#free.push(slot);
    this.#free.sort((a, b) => b - a);
  }

  /**
   * Empties a slot its session keeps (its context is about to be rebuilt). Its ring's old
   * values stay in memory but no query sees them: visibility is by filled positions.
   */
  reset(slot: number): void {
    this.#generation[slot]++;
    this.#head[slot] = 0;
    this.#filled[slot] = 0;
    this.#position[slot] = 0;
  }

  /**
   * Hands slot `from`'s bookkeeping (ring head, filled and absolute positions) to slot `to`,
   * taken for it, once its rings have been copied there (gpu-worker/slot_mover.ts), and
   * returns `from` to the pool.
   */
  transfer(from: number, to: number): void {
    if (!this.#used[from] || !this.#used[to] || from === to) {
      throw new RangeError(`cannot move slot ${from} to slot ${to}: both must be in use`);
    }
    this.#head[to] = this.#head[from];
    this.#filled[to] = this.#filled[from];
    this.#position[to] = this.#position[from];
    this.release(from);
  }

  /** Absolute position the slot's next micro-turn starts at. */
  position(slot: number): number {
    return this.#position[slot];
  }

  /** Ring index the slot's next position is written at. */
  head(slot: number): number {
    return this.#head[slot];
  }

  /** Positions the slot's context holds (at most the window). */
  filled(slot: number): number {
    return Math.min(this.#filled[slot], this.geometry.window);
  }

  /** Positions written to the ring and not yet overwritten (at most the ring's length). */
  ringFilled(slot: number): number {
    return this.#filled[slot];
  }

  /**
   * The slot's generation: it changes whenever the slot is emptied (released, reacquired,
   * reset), so a step that began before can tell that its writes belong to no one now.
   */
  generation(slot: number): number {
    return this.#generation[slot];
  }

  /**
   * Records `positions` new positions written at the slot's head by a step that began at
   * `generation`; returns whether the window is now full. A stale step (the slot was emptied
   * while it ran) records nothing: its writes are past the new owner's filled positions.
   */
  advance(slot: number, positions: number, generation = this.#generation[slot]): boolean {
    if (generation !== this.#generation[slot]) return false;
    const { cacheLength, window } = this.geometry;
    this.#head[slot] = (this.#head[slot] + positions) % cacheLength;
    this.#filled[slot] = Math.min(cacheLength, this.#filled[slot] + positions);
    this.#position[slot] += positions;
    return this.#filled[slot] >= window;
  }

  /**
   * The keys and values tensors of layer by layer, viewing the first `span` slots (the same
   * device memory, a shorter shape), so a step reads no slot beyond the highest in use. The
   * cache keeps the views of the last span asked for.
   */
  views(span: number): { keys: OrtTensor[]; values: OrtTensor[] } {
    if (span === this.capacity) return { keys: this.#keys, values: this.#values };
    if (this.#views?.span === span) return this.#views;
    this.#releaseViews();
    this.#views = { span, ...this.ownedViews(span) };
    return this.#views;
  }

  /**
   * Views of the first `span` slots, as {@linkcode views}, that the caller keeps and releases
   * (before the cache: see {@linkcode releaseFirst}).
   */
  ownedViews(span: number): { keys: OrtTensor[]; values: OrtTensor[] } {
    const keyDims = keyTensorDims(this.geometry, span);
    const valueDims = valueTensorDims(this.geometry, span);
    return {
      keys: this.#keys.map((tensor) => this.#session.prefixView(tensor, keyDims)),
      values: this.#values.map((tensor) => this.#session.prefixView(tensor, valueDims)),
    };
  }

  /** Has {@linkcode release} release `dependent` (something using the cache's memory) first. */
  releaseFirst(dependent: { release(): void }): void {
    this.#dependents.push(dependent);
  }

  #releaseViews(): void {
    if (!this.#views) return;
    for (const tensor of [...this.#views.keys, ...this.#views.values]) tensor.release();
    this.#views = undefined;
  }
}
