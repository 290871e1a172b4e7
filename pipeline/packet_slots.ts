/**
 * An audio packet's payload cut into the 20 ms slots of media time it covers, for the jitter
 * buffer, which holds, releases, conceals and delivers late one slot at a time:
 * - Opus: a packet of 20 ms frames (RFC 7587 allows up to 120 ms a packet; the SDK sends
 *   100 ms) gives one slot a frame, each cut out as a one-frame packet
 *   (pipeline/opus_packet.ts); any other packet is one slot as it came (a 20 ms packet, or 20 ms
 *   of shorter frames). Bytes that are not an Opus packet are one slot too: the decoder
 *   refuses them and conceals the slot.
 * - Linear PCM (L16): 640 bytes a slot.
 *
 * @module
 */
import { OpusFrames } from "./opus_packet.ts";
import {
  type AudioCodec,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

/** Bytes of one 20 ms slot of 16-bit PCM. */
const L16_SLOT_BYTES = 2 * SAMPLES_PER_FRAME;

/** The slots of the payload last read; one instance is reused packet after packet. */
export class PacketSlots {
  readonly #opus: OpusFrames | undefined;
  #payload: Uint8Array = new Uint8Array(0);
  #count = 0;

  /** @param codec how the payloads are coded */
  constructor(codec: AudioCodec = "opus") {
    this.#opus = codec === "opus" ? new OpusFrames() : undefined;
  }

  /** Reads `payload` (kept until the next read); returns how many 20 ms slots it covers. */
  read(payload: Uint8Array): number {
    this.#payload = payload;
    this.#count = 1;
    if (this.#opus) {
      try {
        const frames = this.#opus.read(payload);
        if (frames.count > 1 && frames.frameTicks === RTP_TICKS_PER_FRAME) {
          this.#count = frames.count;
        }
      } catch {
        // Not an Opus packet: one slot, which the decoder will refuse and conceal.
      }
    } else if (payload.length > L16_SLOT_BYTES && payload.length % L16_SLOT_BYTES === 0) {
      this.#count = payload.length / L16_SLOT_BYTES;
    }
    return this.#count;
  }

  /** Bytes of slot `i`. */
  length(i: number): number {
    if (this.#count === 1) return this.#payload.length;
    return this.#opus ? this.#opus.frameLength(i) : L16_SLOT_BYTES;
  }

  /** Writes slot `i` into `target` at `at`. */
  write(i: number, target: Uint8Array, at: number): void {
    if (this.#count === 1) target.set(this.#payload, at);
    else if (this.#opus) this.#opus.writeFrame(i, target, at);
    else target.set(this.#payload.subarray(i * L16_SLOT_BYTES, (i + 1) * L16_SLOT_BYTES), at);
  }

  /** Slot `i` as bytes of its own to keep: the payload itself when it is one slot. */
  own(i: number): Uint8Array {
    if (this.#count === 1) return this.#payload;
    if (!this.#opus) return this.#payload.slice(i * L16_SLOT_BYTES, (i + 1) * L16_SLOT_BYTES);
    const slot = new Uint8Array(this.#opus.frameLength(i));
    this.#opus.writeFrame(i, slot, 0);
    return slot;
  }
}
