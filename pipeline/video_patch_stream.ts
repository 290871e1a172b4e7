/**
 * Keeps the newest camera frame of each micro-turn and, when the micro-turn closes, decodes
 * it into patches (frames that were superseded are never decoded, so a fast camera costs no
 * more than a slow one). Emits a `patches` frame just before the `turn_end`.
 *
 * @module
 */
import type { IngressFrame, VideoFrame } from "./ingress_frames.ts";
import { jpegToPatches } from "./image_patches.ts";
import { PATCHES_PER_FRAME } from "../protocol/media_format.ts";

/** Turns the newest `video` frame per micro-turn into a `patches` frame; passes the rest on. */
export class VideoPatchStream extends TransformStream<IngressFrame, IngressFrame> {
  /** @param onMalformed told about each frame that did not decode (it is skipped) */
  constructor(onMalformed: (error: unknown) => void = () => {}) {
    let newest: VideoFrame | undefined;
    super({
      transform(frame, controller) {
        if (frame.type === "video") {
          if (!newest || frame.timestampMs >= newest.timestampMs) newest = frame;
          return;
        }
        if (frame.type === "turn_end" && newest) {
          const { timestampMs, jpeg } = newest;
          newest = undefined;
          try {
            const bytes = jpegToPatches(jpeg);
            controller.enqueue({ type: "patches", timestampMs, count: PATCHES_PER_FRAME, bytes });
          } catch (error) {
            onMalformed(error);
          }
        }
        controller.enqueue(frame);
      },
    });
  }
}
