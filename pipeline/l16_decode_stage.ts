/**
 * Turns `audio_slot` frames carrying linear PCM (`L16_PAYLOAD_TYPE`: 320 little-endian 16-bit
 * samples) into 20 ms `pcm` frames: the counterpart of the Opus decoder for sessions whose
 * adapter hands the edge PCM. A gap is concealed by repeating the last frame at half its level
 * (then silence), and long gaps are silence marked missing, as for Opus.
 *
 * @module
 */
import type { IngressFrame, PcmOrigin } from "./ingress_frames.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";
import { l16Samples } from "./l16_samples.ts";
import type { Emit, FrameStage } from "./frame_stage.ts";

/** Turns linear-PCM `audio_slot` frames into `pcm` frames; passes other frames on. */
export class L16DecodeStage implements FrameStage<IngressFrame, IngressFrame> {
  #last: Int16Array = new Int16Array(SAMPLES_PER_FRAME);

  /** Unpacks (or conceals) an `audio_slot`; passes other frames on. */
  transform(frame: IngressFrame, emit: Emit<IngressFrame>): void {
    if (frame.type !== "audio_slot") return emit(frame);
    let samples: Int16Array;
    let origin: PcmOrigin;
    if (frame.payload) {
      samples = pcmOf(frame.payload);
      origin = "decoded";
      if (!frame.late) this.#last = samples;
    } else if (frame.fill === "missing") {
      samples = new Int16Array(SAMPLES_PER_FRAME);
      origin = "missing";
    } else {
      samples = this.#last.map((sample) => sample >> 1);
      this.#last = samples;
      origin = "concealed";
    }
    emit({
      type: "pcm",
      frameIndex: frame.frameIndex,
      samples,
      origin,
      ...(frame.late ? { late: true } : {}),
    });
  }
}

/** The payload's samples, cut or padded to one 20 ms frame. */
function pcmOf(payload: Uint8Array): Int16Array {
  const samples = new Int16Array(SAMPLES_PER_FRAME);
  samples.set(l16Samples(payload).subarray(0, SAMPLES_PER_FRAME));
  return samples;
}
