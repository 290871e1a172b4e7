/**
 * Decodes `audio_slot` frames into 20 ms `pcm` frames: payloads through Opus, a gap through
 * in-band FEC from the packet after it when that exists, else loss concealment, and long gaps
 * as silence marked missing. A payload that does not decode is concealed and reported.
 *
 * Silence costs nothing: an empty payload (a TOC byte alone: the client's silence, DTX) is
 * silence without a call into libopus, and so is a lost frame after one (concealing from
 * silence gives silence; libopus would spend more on it than on decoding speech). The decoder
 * then takes the next speech where it left off: bench:uplink found its dMel codes no
 * different from those of speech sent without empty frames.
 *
 * Late frames (delivered after their micro-turn closed) go through a decoder of their own,
 * started afresh at each run of consecutive late frames, so they never disturb the state of
 * the on-time stream's decoder.
 *
 * An on-time frame's samples are decoded into one buffer the stage reuses, not a new array a
 * frame: the next stage has consumed a frame before the next one is decoded (stages run
 * synchronously, pipeline/frame_stage.ts).
 *
 * @module
 */
import type { AudioSlotFrame, IngressFrame, PcmOrigin } from "./ingress_frames.ts";
import { OpusDecoder } from "./opus_codec.ts";
import { MAX_FRAME_SAMPLES } from "./opus_library.ts";
import { isEmptyOpusPacket } from "./opus_packet.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";
import type { Emit, FrameStage } from "./frame_stage.ts";

/** Turns `audio_slot` frames into `pcm` frames; passes other frames on. */
export class OpusDecodeStage implements FrameStage<IngressFrame, IngressFrame> {
  readonly #onUndecodable: (error: unknown) => void;
  readonly #decoder = new OpusDecoder();
  /** Where on-time frames are decoded: room for the longest packet, cut to 20 ms by `fit`. */
  readonly #pcm = new Int16Array(MAX_FRAME_SAMPLES);
  #lateDecoder: OpusDecoder | undefined;
  #lastLateFrame = -2;
  /** The last on-time payload was empty: the client is silent. */
  #silent = false;

  /**
   * @param onUndecodable told about each payload libopus refused (it is concealed instead)
   */
  constructor(onUndecodable: (error: unknown) => void = () => {}) {
    this.#onUndecodable = onUndecodable;
  }

  /** Decodes (or conceals) an `audio_slot`; passes other frames on. */
  transform(frame: IngressFrame, emit: Emit<IngressFrame>): void {
    if (frame.type !== "audio_slot") return emit(frame);
    if (frame.late && frame.payload) return this.#decodeLate(frame, frame.payload, emit);
    const decoder = this.#decoder;
    let samples: Int16Array;
    let origin: PcmOrigin;
    if (frame.payload) {
      this.#silent = isEmptyOpusPacket(frame.payload);
      try {
        samples = this.#silent ? SILENCE : decoder.decode(frame.payload, this.#pcm);
        origin = "decoded";
      } catch (error) {
        this.#onUndecodable(error);
        samples = decoder.conceal(SAMPLES_PER_FRAME, this.#pcm);
        origin = "concealed";
      }
    } else if (frame.fill === "missing") {
      samples = SILENCE;
      origin = "missing";
    } else if (frame.nextPayload && !isEmptyOpusPacket(frame.nextPayload)) {
      samples = decoder.recoverFromNext(frame.nextPayload, SAMPLES_PER_FRAME, this.#pcm);
      origin = "fec";
    } else if (this.#silent) {
      samples = SILENCE;
      origin = "concealed";
    } else {
      samples = decoder.conceal(SAMPLES_PER_FRAME, this.#pcm);
      origin = "concealed";
    }
    emit({ type: "pcm", frameIndex: frame.frameIndex, samples: fit(samples), origin });
  }

  /** Frees the decoders (the codec may live in a shared wasm heap). */
  close(): void {
    this.#decoder.close();
    this.#lateDecoder?.close();
  }

  #decodeLate(frame: AudioSlotFrame, payload: Uint8Array, emit: Emit<IngressFrame>): void {
    if (frame.frameIndex !== this.#lastLateFrame + 1) {
      this.#lateDecoder?.close();
      this.#lateDecoder = new OpusDecoder();
    }
    this.#lastLateFrame = frame.frameIndex;
    let samples: Int16Array;
    try {
      samples = isEmptyOpusPacket(payload) ? SILENCE : fit(this.#lateDecoder!.decode(payload));
    } catch (error) {
      this.#onUndecodable(error);
      return;
    }
    emit({ type: "pcm", frameIndex: frame.frameIndex, samples, origin: "decoded", late: true });
  }
}

/** A missing frame's samples (never written: stages only read samples). */
const SILENCE = new Int16Array(SAMPLES_PER_FRAME);

/** Cuts or pads packets of other durations to the 20 ms the clock counts in. */
function fit(samples: Int16Array): Int16Array {
  if (samples.length === SAMPLES_PER_FRAME) return samples;
  if (samples.length > SAMPLES_PER_FRAME) return samples.subarray(0, SAMPLES_PER_FRAME);
  const fitted = new Int16Array(SAMPLES_PER_FRAME);
  fitted.set(samples.subarray(0, SAMPLES_PER_FRAME));
  return fitted;
}
