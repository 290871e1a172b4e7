/**
 * Assembles micro-turns: the on-time `dmel` frames of micro-turn k (media time
 * [200k, 200k + 200) ms) fill its twenty dMel rows, late frames are appended after them with
 * their own media times, text and the newest camera frame's patches join the micro-turn
 * open when they arrive, and the jitter
 * buffer's `turn_end` closes it. Flags say what the model should know: late audio inside,
 * concealed audio, or no input at all (a stall past the concealment bound).
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { FRAME_ORIGINS, type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";
import {
  AUDIO_FRAME_MS,
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";

const CODES_PER_FRAME = (DMEL_FRAMES_PER_MICRO_TURN / FRAMES_PER_MICRO_TURN) * DMEL_BINS;

/** Turns `dmel`, `text` and `turn_end` frames into micro-turns. */
export class MicroTurnAssembler extends TransformStream<IngressFrame, MicroTurn> {
  /** @param sessionId the session every micro-turn belongs to */
  constructor(sessionId: string) {
    let onTime = new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS);
    let origins = new Uint8Array(FRAMES_PER_MICRO_TURN).fill(FRAME_ORIGINS.indexOf("missing"));
    let late: Uint8Array[] = [];
    let lateMediaMs: number[] = [];
    let text = "";
    let patches: { count: number; bytes: Uint8Array } = { count: 0, bytes: new Uint8Array(0) };

    super({
      transform(frame, controller) {
        if (frame.type === "text") {
          text += frame.text;
        } else if (frame.type === "patches") {
          patches = frame;
        } else if (frame.type === "dmel" && frame.late) {
          late.push(frame.codes);
          lateMediaMs.push(frame.frameIndex * AUDIO_FRAME_MS);
        } else if (frame.type === "dmel") {
          const slot = frame.frameIndex % FRAMES_PER_MICRO_TURN;
          onTime.set(frame.codes, slot * CODES_PER_FRAME);
          origins[slot] = FRAME_ORIGINS.indexOf(frame.origin);
        } else if (frame.type === "turn_end") {
          let flags = 0;
          if (late.length > 0) flags |= MicroTurnFlags.LATE_AUDIO;
          if (origins.some((o) => FRAME_ORIGINS[o] === "concealed" || FRAME_ORIGINS[o] === "fec")) {
            flags |= MicroTurnFlags.CONCEALED_AUDIO;
          }
          if (origins.every((o) => FRAME_ORIGINS[o] === "missing") && late.length === 0) {
            flags |= MicroTurnFlags.INPUT_MISSING;
          }
          const dmel = new Uint8Array(onTime.length + late.length * CODES_PER_FRAME);
          dmel.set(onTime);
          late.forEach((codes, i) => dmel.set(codes, onTime.length + i * CODES_PER_FRAME));
          controller.enqueue({
            sessionId,
            index: frame.index,
            wallClockMs: frame.closedAtMs,
            flags,
            dmelFrames: dmel.length / DMEL_BINS,
            dmel,
            frameOrigins: origins,
            lateMediaMs,
            text,
            patchCount: patches.count,
            patches: patches.bytes,
          });
          patches = { count: 0, bytes: new Uint8Array(0) };
          onTime = new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS);
          origins = new Uint8Array(FRAMES_PER_MICRO_TURN).fill(FRAME_ORIGINS.indexOf("missing"));
          late = [];
          lateMediaMs = [];
          text = "";
        }
      },
    });
  }
}
