/**
 * Computes dMel codes for each `pcm` frame (two 10 ms hops per 20 ms frame).
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { DmelExtractor } from "./dmel.ts";

/** Turns `pcm` frames into `dmel` frames; passes other frames on. */
export class DmelStream extends TransformStream<IngressFrame, IngressFrame> {
  constructor() {
    const extractor = new DmelExtractor();
    super({
      transform(frame, controller) {
        if (frame.type !== "pcm") return controller.enqueue(frame);
        controller.enqueue({
          type: "dmel",
          frameIndex: frame.frameIndex,
          codes: extractor.push(frame.samples),
          origin: frame.origin,
        });
      },
    });
  }
}
