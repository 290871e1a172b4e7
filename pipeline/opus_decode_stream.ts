/**
 * Decodes `audio_slot` frames into 20 ms `pcm` frames: payloads through Opus, a gap through
 * in-band FEC from the packet after it when that exists, else loss concealment, and long gaps
 * as silence marked missing. A payload that does not decode is concealed and reported.
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
    super({
      transform(frame, controller) {
        if (frame.type !== "audio_slot") return controller.enqueue(frame);
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
        // Packets of other durations are cut or padded to the 20 ms the clock counts in.
        if (samples.length !== SAMPLES_PER_FRAME) {
          const fitted = new Int16Array(SAMPLES_PER_FRAME);
          fitted.set(samples.subarray(0, SAMPLES_PER_FRAME));
          samples = fitted;
        }
        controller.enqueue({ type: "pcm", frameIndex: frame.frameIndex, samples, origin });
      },
      flush() {
        decoder.close();
      },
      // An aborted session frees its decoder too (the codec lives in a shared wasm heap).
      cancel() {
        decoder.close();
      },
    });
  }
}
