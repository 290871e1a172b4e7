/**
 * Orders RTP packets by sequence number into contiguous 20 ms audio slots: discards
 * duplicates and packets behind the release point, holds a few packets to absorb
 * reordering, and declares a packet lost once `reorderWindow` later packets have arrived.
 * Short gaps are concealed; long ones are marked missing; a huge jump is a sender restart.
 *
 * This is the foundation's packet-count buffer: it adapts to nothing and does not consult the
 * clock. The adaptive, time-driven jitter buffer replaces it behind the same frames.
 *
 * @module
 */
import type { AudioSlotFrame, IngressFrame } from "./ingress_frames.ts";
import type { RtpPacket } from "./rtp_packet.ts";

/** Options for {@linkcode PacketOrderStream}. */
export interface PacketOrderOptions {
  /** Packets held before a missing one is declared lost. Default 4 (80 ms of audio). */
  reorderWindow?: number;
  /** Longest gap, in frames, filled with concealment rather than marked missing. Default 10. */
  maxConcealedFrames?: number;
  /** A jump either way larger than this many frames is a sender restart. Default 3000 (60 s). */
  restartJumpFrames?: number;
}

/** Counters the stage keeps. */
export interface PacketOrderStats {
  /** Packets released in order. */
  released: number;
  /** Duplicates and packets that came after their slot was released. */
  discarded: number;
  /** Slots released as gaps. */
  lost: number;
  /** Sender restarts detected. */
  restarts: number;
}

/** Turns `rtp` frames into `audio_slot` frames in sequence order; passes other frames on. */
export class PacketOrderStream extends TransformStream<IngressFrame, IngressFrame> {
  /** Live counters. */
  readonly stats: PacketOrderStats;

  /** @param options window and gap bounds */
  constructor(options: PacketOrderOptions = {}) {
    const window = options.reorderWindow ?? 4;
    const maxConcealed = options.maxConcealedFrames ?? 10;
    const restartJump = options.restartJumpFrames ?? 3000;
    const held = new Map<number, RtpPacket>();
    /** Extended sequence number of the next slot to release. */
    let next: number | undefined;
    /** Frame index the next released slot gets; counts across restarts. */
    let frameIndex = 0;
    const stats: PacketOrderStats = { released: 0, discarded: 0, lost: 0, restarts: 0 };

    /** Before the first release, numbers extend around the first packet seen. */
    let reference: number | undefined;
    const extend = (sequenceNumber: number): number => {
      // The nearest extended number to the release point with these low 16 bits.
      const base = next ?? reference!;
      const delta = ((sequenceNumber - base + 0x8000) & 0xffff) - 0x8000;
      return base + delta;
    };
    const release = (controller: TransformStreamDefaultController<IngressFrame>) => {
      while (held.size > 0) {
        const packet = held.get(next!);
        if (packet) {
          held.delete(next!);
          controller.enqueue({
            type: "audio_slot",
            frameIndex: frameIndex++,
            payload: packet.payload,
          });
          stats.released++;
          next!++;
          continue;
        }
        if (held.size < window) return;
        // A gap: fill it up to the earliest held packet.
        const earliest = Math.min(...held.keys());
        const gap = earliest - next!;
        const fill = gap <= maxConcealed ? "conceal" : "missing";
        const nextPayload = held.get(earliest)!.payload;
        for (let i = 0; i < gap; i++) {
          const slot: AudioSlotFrame = {
            type: "audio_slot",
            frameIndex: frameIndex++,
            payload: null,
            fill,
          };
          if (i === gap - 1) slot.nextPayload = nextPayload;
          controller.enqueue(slot);
        }
        stats.lost += gap;
        next = earliest;
      }
    };

    super({
      transform(frame, controller) {
        if (frame.type !== "rtp") return controller.enqueue(frame);
        const { sequenceNumber } = frame.packet;
        reference ??= sequenceNumber;
        let seq = extend(sequenceNumber);
        if (next === undefined) {
          // The first packet to arrive need not be the first sent: start once the window is
          // full, from the earliest held.
          if (!held.has(seq)) held.set(seq, frame.packet);
          else stats.discarded++;
          if (held.size >= window) {
            next = Math.min(...held.keys());
            release(controller);
          }
          return;
        }
        if (Math.abs(seq - next) > restartJump) {
          // Release what is held, then continue the frame count from the new sequence.
          for (const key of [...held.keys()].sort((a, b) => a - b)) {
            controller.enqueue({
              type: "audio_slot",
              frameIndex: frameIndex++,
              payload: held.get(key)!.payload,
            });
            stats.released++;
          }
          held.clear();
          stats.restarts++;
          next = seq;
        }
        seq = extend(sequenceNumber);
        if (seq < next || held.has(seq)) {
          stats.discarded++;
          return;
        }
        held.set(seq, frame.packet);
        release(controller);
      },
      flush(controller) {
        if (held.size === 0) return;
        next ??= Math.min(...held.keys());
        const remaining = [...held.keys()].sort((a, b) => a - b);
        for (const seq of remaining) {
          const gap = seq - next!;
          for (let i = 0; i < gap; i++) {
            controller.enqueue({
              type: "audio_slot",
              frameIndex: frameIndex++,
              payload: null,
              fill: "conceal",
            });
          }
          stats.lost += gap;
          controller.enqueue({
            type: "audio_slot",
            frameIndex: frameIndex++,
            payload: held.get(seq)!.payload,
          });
          stats.released++;
          next = seq + 1;
        }
        held.clear();
      },
    });
    this.stats = stats;
  }
}
