/**
 * The payloads a jitter buffer holds for frames it has not yet closed, by media frame.
 *
 * Payloads of frames due soon are copied into a ring of slots the holder owns (one a frame, for
 * the next 1.28 s of media), so the socket message each came in dies young: held for up to a
 * micro-turn, thousands a second of them outlived V8's young generation at 100 sessions, and
 * freeing their buffers was most of every full collection's pause. A payload taken from the
 * ring is a view of it: consume it before the next hold.
 *
 * @module
 */
import type { PacketSlots } from "./packet_slots.ts";

/** Frames ahead of the open frame whose payloads are copied into the ring. */
const PAYLOAD_RING_FRAMES = 64;
/** Room for one payload in the ring: 20 ms of Opus up to 128 kbit/s (longer ones are kept as they came). */
const PAYLOAD_RING_SLOT_BYTES = 320;

/** Payloads of frames not yet closed; see the module doc. */
export class HeldPayloads {
  readonly #held = new Map<number, Uint8Array>();
  /** Copies of held payloads, frame `f` at slot `f % PAYLOAD_RING_FRAMES`. */
  readonly #ring = new Uint8Array(PAYLOAD_RING_FRAMES * PAYLOAD_RING_SLOT_BYTES);

  /** Whether `frame` is held. */
  has(frame: number): boolean {
    return this.#held.has(frame);
  }

  /** The payload held for `frame`, if any (a view of the ring: read it before the next hold). */
  get(frame: number): Uint8Array | undefined {
    return this.#held.get(frame);
  }

  /** Removes and returns the payload held for `frame`, if any. */
  take(frame: number): Uint8Array | undefined {
    const payload = this.#held.get(frame);
    if (payload) this.#held.delete(frame);
    return payload;
  }

  /** The highest frame held, or -1. */
  lastFrame(): number {
    let last = -1;
    for (const frame of this.#held.keys()) last = Math.max(last, frame);
    return last;
  }

  /**
   * Holds slot `i` of `slots` for `frame` until it closes: a copy in the ring when it fits
   * there. Every held frame in the ring lies within PAYLOAD_RING_FRAMES of the open frame, so no
   * two share a slot, and a slot is reused only once its frame has closed and been taken.
   */
  hold(frame: number, openFrame: number, slots: PacketSlots, i: number): void {
    const length = slots.length(i);
    const at = this.#ringOffset(frame, openFrame, length);
    if (at < 0) return void this.#held.set(frame, slots.own(i));
    slots.write(i, this.#ring, at);
    this.#held.set(frame, this.#ring.subarray(at, at + length));
  }

  /** Moves every held payload `frames` later (the anchor slid back). */
  shift(frames: number, openFrame: number): void {
    // Copied out first: a frame's ring slot changes with its number.
    const held = [...this.#held].map(([frame, payload]) => [frame, payload.slice()] as const);
    this.#held.clear();
    for (const [frame, payload] of held) {
      const at = this.#ringOffset(frame + frames, openFrame, payload.length);
      if (at < 0) {
        this.#held.set(frame + frames, payload);
      } else {
        this.#ring.set(payload, at);
        this.#held.set(frame + frames, this.#ring.subarray(at, at + payload.length));
      }
    }
  }

  /** Where in the ring `frame`'s payload of `length` bytes goes, or -1 when it is kept outside. */
  #ringOffset(frame: number, openFrame: number, length: number): number {
    if (frame - openFrame >= PAYLOAD_RING_FRAMES || length > PAYLOAD_RING_SLOT_BYTES) return -1;
    return (frame % PAYLOAD_RING_FRAMES) * PAYLOAD_RING_SLOT_BYTES;
  }
}
