/**
 * Decodes `audio_slot` frames into 20 ms `pcm` frames: payloads through Opus, a gap through
 * in-band FEC from the packet after it when that exists, else loss concealment, and long gaps
 * as silence marked missing. A payload that does not decode is concealed and reported.
 *
 * Late frames (delivered after their micro-turn closed) go through a decoder of their own,
 * started afresh at each run of consecutive late frames, so they never disturb the state of
 * the on-time stream's decoder.
 *
 * @module
 */
import type { IngressFrame, PcmOrigin } from "./ingress_frames.ts";
import { OpusDecoder } from "./opus_codec.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** Turns `audio_slot` frames into `pcm` frames; passes other frames on. */
export class OpusDecodeStream extends TransformStream<IngressFrame, IngressFrame> {
  /**
   * @param onUndecodable told about each payload libopus refused (it is concealed instead)
   */
  constructor(onUndecodable: (error: unknown) => void = () => {}) {
    const decoder = new OpusDecoder();
    let lateDecoder: OpusDecoder | undefined;
    let lastLateFrame = -2;
    super({
      transform(frame, controller) {
        if (frame.type !== "audio_slot") return controller.enqueue(frame);
        if (frame.late && frame.payload) {
          if (frame.frameIndex !== lastLateFrame + 1) {
            lateDecoder?.close();
            lateDecoder = new OpusDecoder();
          }
          lastLateFrame = frame.frameIndex;
          let samples: Int16Array;
          try {
            samples = fit(lateDecoder!.decode(frame.payload));
          } catch (error) {
            onUndecodable(error);
            return;
          }
          controller.enqueue({
            type: "pcm",
            frameIndex: frame.frameIndex,
            samples,
            origin: "decoded",
            late: true,
          });
          return;
        }
        let samples: Int16Array;
        let origin: PcmOrigin;
        if (frame.payload) {
          try {
            samples = decoder.decode(frame.payload);
            origin = "decoded";
          } catch (error) {
            onUndecodable(error);
            samples = decoder.conceal(SAMPLES_PER_FRAME);
            origin = "concealed";
          }
        } else if (frame.fill === "missing") {
          samples = new Int16Array(SAMPLES_PER_FRAME);
          origin = "missing";
        } else if (frame.nextPayload) {
          samples = decoder.recoverFromNext(frame.nextPayload, SAMPLES_PER_FRAME);
          origin = "fec";
        } else {
          samples = decoder.conceal(SAMPLES_PER_FRAME);
          origin = "concealed";
        }
        controller.enqueue({
          type: "pcm",
          frameIndex: frame.frameIndex,
          samples: fit(samples),
          origin,
        });
      },
      flush() {
        decoder.close();
        lateDecoder?.close();
      },
      // An aborted session frees its decoders too (the codec lives in a shared wasm heap).
      cancel() {
        decoder.close();
        lateDecoder?.close();
      },
    });
  }
}

/** Cuts or pads packets of other durations to the 20 ms the clock counts in. */
function fit(samples: Int16Array): Int16Array {
  if (samples.length === SAMPLES_PER_FRAME) return samples;
  const fitted = new Int16Array(SAMPLES_PER_FRAME);
  fitted.set(samples.subarray(0, SAMPLES_PER_FRAME));
  return fitted;
}
