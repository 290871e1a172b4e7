/**
 * Computes dMel codes for each `pcm` frame (two 10 ms hops per 20 ms frame).
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { DmelExtractor } from "./dmel.ts";

/**
 * Turns `pcm` frames into `dmel` frames; passes other frames on. Late frames have an
 * extractor of their own, started afresh at each run of consecutive late frames.
 */
export class DmelStream extends TransformStream<IngressFrame, IngressFrame> {
  constructor() {
    const extractor = new DmelExtractor();
    let lateExtractor = new DmelExtractor();
    let lastLateFrame = -2;
    super({
      transform(frame, controller) {
        if (frame.type !== "pcm") return controller.enqueue(frame);
        if (frame.late && frame.frameIndex !== lastLateFrame + 1) {
          lateExtractor = new DmelExtractor();
        }
        if (frame.late) lastLateFrame = frame.frameIndex;
        controller.enqueue({
          type: "dmel",
          frameIndex: frame.frameIndex,
          codes: (frame.late ? lateExtractor : extractor).push(frame.samples),
          origin: frame.origin,
          late: frame.late,
        });
      },
    });
  }
}
