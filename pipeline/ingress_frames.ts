/**
 * Typed frames that move through a session's ingress pipeline. Each stage handles the frame
 * types it knows and passes every other frame on untouched, so text travels the same ordered
 * path as audio and reaches the micro-turn assembler in arrival order.
 *
 * @module
 */
import type { RtpPacket } from "./rtp_packet.ts";

/** An RTP packet as parsed from the socket. */
export interface RtpFrame {
  /** Frame type. */
  type: "rtp";
  /** The packet. */
  packet: RtpPacket;
  /** Wall time it arrived, ms. */
  arrivalMs: number;
}

/** The session's clock advanced: close what is due. */
export interface TickFrame {
  /** Frame type. */
  type: "tick";
  /** Wall time now, ms. */
  nowMs: number;
}

/** Closes the micro-turn whose frames came just before. */
export interface TurnEndFrame {
  /** Frame type. */
  type: "turn_end";
  /** Micro-turn index. */
  index: number;
  /** Wall time it closed, ms. */
  closedAtMs: number;
  /** Jitter-buffer delay it carried, ms. */
  addedDelayMs: number;
}

/** One 20 ms audio slot, in order: a payload, or a gap the decoder must fill. */
export interface AudioSlotFrame {
  /** Frame type. */
  type: "audio_slot";
  /** Media frame index: the frame covers [20 * frameIndex, 20 * frameIndex + 20) ms. */
  frameIndex: number;
  /** Arrived after its own micro-turn closed; delivered with a later one. */
  late?: boolean;
  /** Opus payload, or null when the packet never came. */
  payload: Uint8Array | null;
  /** For a gap: the payload after it, whose in-band FEC may recover it. */
  nextPayload?: Uint8Array;
  /** For a gap: conceal it (short gaps) or mark it missing (long ones). */
  fill?: "conceal" | "missing";
}

/** How a frame's PCM came to be. */
export type PcmOrigin = "decoded" | "fec" | "concealed" | "missing";

/** 20 ms of 16 kHz PCM. */
export interface PcmFrame {
  /** Frame type. */
  type: "pcm";
  /** Index of this 20 ms frame. */
  frameIndex: number;
  /** Arrived after its own micro-turn closed. */
  late?: boolean;
  /**
   * 320 samples. Valid only while the frame is being emitted: a stage may reuse the buffer for
   * its next frame (the Opus decoder does), so a stage that keeps samples copies them.
   */
  samples: Int16Array;
  /** Where the samples came from. */
  origin: PcmOrigin;
}

/** dMel codes of one 20 ms frame (two 10 ms hops). */
export interface DmelFrame {
  /** Frame type. */
  type: "dmel";
  /** Index of this 20 ms frame. */
  frameIndex: number;
  /** Arrived after its own micro-turn closed. */
  late?: boolean;
  /**
   * `2 * DMEL_BINS` codes. An on-time frame's are valid only while it is being emitted (the
   * dMel stage reuses the buffer; the assembler copies them); a late frame's are its own.
   */
  codes: Uint8Array;
  /** Where the audio came from. */
  origin: PcmOrigin;
}

/** Text the user typed. */
export interface TextFrame {
  /** Frame type. */
  type: "text";
  /** The text. */
  text: string;
  /** When the user typed it, ms of the client's media clock, if the client said. */
  timestampMs?: number;
}

/** A camera frame as the client sent it. */
export interface VideoFrame {
  /** Frame type. */
  type: "video";
  /** Client's capture time, ms of its media clock. */
  timestampMs: number;
  /** JPEG bytes. */
  jpeg: Uint8Array;
}

/** The newest camera frame of a micro-turn, cut into 40x40 RGB patches. */
export interface PatchesFrame {
  /** Frame type. */
  type: "patches";
  /** Capture time of the frame they came from. */
  timestampMs: number;
  /** Number of patches. */
  count: number;
  /** `count * PATCH_BYTES` bytes, patch-major. */
  bytes: Uint8Array;
}

/** Every frame type of the ingress path. */
export type IngressFrame =
  | RtpFrame
  | TickFrame
  | AudioSlotFrame
  | PcmFrame
  | DmelFrame
  | TextFrame
  | VideoFrame
  | PatchesFrame
  | TurnEndFrame;
