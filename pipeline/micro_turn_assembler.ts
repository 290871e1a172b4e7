/**
 * Assembles micro-turns: micro-turn k holds the audio frames whose media time falls in
 * [200k, 200k + 200) ms and the text that arrived while it was open. It closes when its last
 * audio frame arrives; on flush, a partly filled micro-turn closes padded with silence codes
 * and flagged input-missing.
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";
import type { Clock } from "../lib/clock.ts";

const HOPS_PER_FRAME = DMEL_FRAMES_PER_MICRO_TURN / FRAMES_PER_MICRO_TURN;
const CODES_PER_FRAME = HOPS_PER_FRAME * DMEL_BINS;

/** Turns `dmel` and `text` frames into micro-turns. */
export class MicroTurnAssembler extends TransformStream<IngressFrame, MicroTurn> {
  /**
   * @param sessionId the session every micro-turn belongs to
   * @param clock stamps each micro-turn with the wall time it closed
   */
  constructor(sessionId: string, clock: Clock) {
    let index = 0;
    let dmel = new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS);
    let text = "";
    let framesFilled = 0;
    let flags = 0;
    let anyAudio = false;

    const close = (controller: TransformStreamDefaultController<MicroTurn>) => {
      if (!anyAudio) flags |= MicroTurnFlags.INPUT_MISSING;
      controller.enqueue({
        sessionId,
        index,
        wallClockMs: clock.now(),
        flags,
        dmelFrames: DMEL_FRAMES_PER_MICRO_TURN,
        dmel,
        text,
        patchCount: 0,
        patches: new Uint8Array(0),
      });
      index++;
      dmel = new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS);
      text = "";
      framesFilled = 0;
      flags = 0;
      anyAudio = false;
    };

    super({
      transform(frame, controller) {
        if (frame.type === "text") {
          text += frame.text;
          return;
        }
        if (frame.type !== "dmel") return;
        // Frames arrive in order and contiguous, so the frame index names its micro-turn.
        const slot = frame.frameIndex % FRAMES_PER_MICRO_TURN;
        dmel.set(frame.codes, slot * CODES_PER_FRAME);
        framesFilled++;
        if (frame.origin === "concealed" || frame.origin === "fec") {
          flags |= MicroTurnFlags.CONCEALED_AUDIO;
        }
        if (frame.origin !== "missing") anyAudio = true;
        if (slot === FRAMES_PER_MICRO_TURN - 1) close(controller);
      },
      flush(controller) {
        if (framesFilled > 0 || text) {
          flags |= MicroTurnFlags.INPUT_MISSING;
          close(controller);
        }
      },
    });
  }
}
