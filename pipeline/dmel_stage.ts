/**
 * Computes dMel codes for each `pcm` frame (two 10 ms hops per 20 ms frame).
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { DmelExtractor } from "./dmel.ts";
import { DMEL_BINS } from "../protocol/media_format.ts";
import type { Emit, FrameStage } from "./frame_stage.ts";

/**
 * Turns `pcm` frames into `dmel` frames; passes other frames on. Late frames have an
 * extractor of their own, started afresh at each run of consecutive late frames. On-time codes
 * are written into one buffer the stage reuses (the assembler copies them); a late frame's are
 * its own (the assembler keeps them until its micro-turn closes).
 */
export class DmelStage implements FrameStage<IngressFrame, IngressFrame> {
  readonly #extractor = new DmelExtractor();
  #lateExtractor = new DmelExtractor();
  #lastLateFrame = -2;
  readonly #codes = new Uint8Array(2 * DMEL_BINS);

  /** Extracts the codes of a `pcm` frame; passes other frames on. */
  transform(frame: IngressFrame, emit: Emit<IngressFrame>): void {
    if (frame.type !== "pcm") return emit(frame);
    if (frame.late && frame.frameIndex !== this.#lastLateFrame + 1) {
      this.#lateExtractor = new DmelExtractor();
    }
    if (frame.late) this.#lastLateFrame = frame.frameIndex;
    emit({
      type: "dmel",
      frameIndex: frame.frameIndex,
      codes: frame.late
        ? this.#lateExtractor.push(frame.samples)
        : this.#extractor.push(frame.samples, this.#codes),
      origin: frame.origin,
      late: frame.late,
    });
  }
}
