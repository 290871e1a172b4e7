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
import type { Emit, FrameStage } from "./frame_stage.ts";

/** Turns the newest `video` frame per micro-turn into a `patches` frame; passes the rest on. */
export class VideoPatchStage implements FrameStage<IngressFrame, IngressFrame> {
  readonly #onMalformed: (error: unknown) => void;
  #newest: VideoFrame | undefined;

  /** @param onMalformed told about each frame that did not decode (it is skipped) */
  constructor(onMalformed: (error: unknown) => void = () => {}) {
    this.#onMalformed = onMalformed;
  }

  /** Keeps the newest `video` frame; cuts it into patches at `turn_end`; passes the rest on. */
  transform(frame: IngressFrame, emit: Emit<IngressFrame>): void {
    if (frame.type === "video") {
      if (!this.#newest || frame.timestampMs >= this.#newest.timestampMs) this.#newest = frame;
      return;
    }
    if (frame.type === "turn_end" && this.#newest) {
      const { timestampMs, jpeg } = this.#newest;
      this.#newest = undefined;
      try {
        const bytes = jpegToPatches(jpeg);
        emit({ type: "patches", timestampMs, count: PATCHES_PER_FRAME, bytes });
      } catch (error) {
        this.#onMalformed(error);
      }
    }
    emit(frame);
  }
}
