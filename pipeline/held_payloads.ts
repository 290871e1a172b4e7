/**
 * The payloads a jitter buffer holds for frames it has not yet closed, by media frame.
 *
 * Payloads of frames due soon are copied into a ring of slots the holder owns (one a frame, for
 * the next 1.28 s of media), so the socket message each came in dies young: held for up to a
 * micro-turn, thousands a second of them outlived V8's young generation at 100 sessions, and
 * freeing their buffers was most of every full collection's pause. Which frame a slot holds and
 * how long its payload is are numbers in typed arrays, so holding a payload allocates nothing:
 * a Map of views here was two fifths of what outlived the young generation on an edge (its
 * views and its re-hashed tables, kept by a long-lived session). A payload taken from the ring
 * is a view of it: consume it before the next hold. Payloads that do not fit (too long, or too
 * far ahead) are kept as they came, in a Map.
 *
 * @module
 */
import type { PacketSlots } from "./packet_slots.ts";

/** Frames ahead of the open frame whose payloads are copied into the ring. */
const PAYLOAD_RING_FRAMES = 64;
/** Room for one payload in the ring: 20 ms of Opus up to 128 kbit/s (longer ones are kept as they came). */
const PAYLOAD_RING_SLOT_BYTES = 320;
/** The frame of an empty ring slot. */
const EMPTY = -1;

/** Payloads of frames not yet closed; see the module doc. */
export class HeldPayloads {
  /** Copies of held payloads, frame `f` at slot `f % PAYLOAD_RING_FRAMES`. */
  readonly #ring = new Uint8Array(PAYLOAD_RING_FRAMES * PAYLOAD_RING_SLOT_BYTES);
  /** The frame each ring slot holds, or EMPTY. */
  readonly #ringFrames = new Float64Array(PAYLOAD_RING_FRAMES).fill(EMPTY);
  /** The length of each ring slot's payload. */
  readonly #ringLengths = new Uint16Array(PAYLOAD_RING_FRAMES);
  /** Payloads kept as they came, by frame. */
  readonly #outside = new Map<number, Uint8Array>();

  /** Whether `frame` is held. */
  has(frame: number): boolean {
    return this.#ringFrames[frame % PAYLOAD_RING_FRAMES] === frame ||
      (this.#outside.size > 0 && this.#outside.has(frame));
  }

  /** The payload held for `frame`, if any (a view of the ring: read it before the next hold). */
  get(frame: number): Uint8Array | undefined {
    const slot = frame % PAYLOAD_RING_FRAMES;
    if (this.#ringFrames[slot] === frame) return this.#view(slot);
    return this.#outside.size > 0 ? this.#outside.get(frame) : undefined;
  }

  /** Removes and returns the payload held for `frame`, if any. */
  take(frame: number): Uint8Array | undefined {
    const slot = frame % PAYLOAD_RING_FRAMES;
    if (this.#ringFrames[slot] === frame) {
      this.#ringFrames[slot] = EMPTY;
      return this.#view(slot);
    }
    if (this.#outside.size === 0) return undefined;
    const payload = this.#outside.get(frame);
    if (payload) this.#outside.delete(frame);
    return payload;
  }

  /** The highest frame held, or -1. */
  lastFrame(): number {
    let last = EMPTY;
    for (const frame of this.#ringFrames) last = Math.max(last, frame);
    for (const frame of this.#outside.keys()) last = Math.max(last, frame);
    return last;
  }

  /**
   * Holds slot `i` of `slots` for `frame` until it closes: a copy in the ring when it fits
   * there. Every held frame in the ring lies within PAYLOAD_RING_FRAMES of the open frame, so no
   * two share a slot, and a slot is reused only once its frame has closed and been taken.
   */
  hold(frame: number, openFrame: number, slots: PacketSlots, i: number): void {
    const length = slots.length(i);
    if (!this.#fits(frame, openFrame, length)) return void this.#outside.set(frame, slots.own(i));
    const slot = frame % PAYLOAD_RING_FRAMES;
    slots.write(i, this.#ring, slot * PAYLOAD_RING_SLOT_BYTES);
    this.#ringFrames[slot] = frame;
    this.#ringLengths[slot] = length;
  }

  /** Moves every held payload `frames` later (the anchor slid back). */
  shift(frames: number, openFrame: number): void {
    // Copied out first: a frame's ring slot changes with its number.
    const held = [...this.#outside];
    for (let slot = 0; slot < PAYLOAD_RING_FRAMES; slot++) {
      if (this.#ringFrames[slot] !== EMPTY) {
        held.push([this.#ringFrames[slot], this.#view(slot).slice()]);
      }
    }
    this.#outside.clear();
    this.#ringFrames.fill(EMPTY);
    for (const [frame, payload] of held) {
      const moved = frame + frames;
      if (!this.#fits(moved, openFrame, payload.length)) {
        this.#outside.set(moved, payload);
        continue;
      }
      const slot = moved % PAYLOAD_RING_FRAMES;
      this.#ring.set(payload, slot * PAYLOAD_RING_SLOT_BYTES);
      this.#ringFrames[slot] = moved;
      this.#ringLengths[slot] = payload.length;
    }
  }

  /** Whether `frame`'s payload of `length` bytes goes into the ring. */
  #fits(frame: number, openFrame: number, length: number): boolean {
    return frame - openFrame < PAYLOAD_RING_FRAMES && length <= PAYLOAD_RING_SLOT_BYTES;
  }

  /** The payload in ring slot `slot`, as a view. */
  #view(slot: number): Uint8Array {
    const at = slot * PAYLOAD_RING_SLOT_BYTES;
    return this.#ring.subarray(at, at + this.#ringLengths[slot]);
  }
}
