/**
 * What audio counts as silence, which costs nothing on the wire or in the DSP. One floor,
 * {@linkcode SILENCE_FLOOR_DBFS}, for both directions:
 * - output: every frame of a micro-turn the model's control head marked silent, and any 20 ms
 *   frame under the floor, is not encoded and not sent (the edge's packetizer,
 *   pipeline/egress_packetizer.ts, and the worker's encoder threads,
 *   gpu-worker/output_encoder_pool.ts);
 * - input: the SDK sends a microphone frame under the floor, once {@linkcode SilenceGate}'s
 *   hangover has passed, as an empty Opus frame (a TOC byte, RFC 6716 §3.2: DTX), which the
 *   edge takes as silence without decoding it or computing its dMel. Under the floor the
 *   edge's front end hears next to nothing anyway: with the speech fixture in a room at
 *   -70 dBFS, its dMel codes lie no further from the microphone's own with the floor than
 *   without (bench:uplink).
 *
 * @module
 */
import { emptyOpusFrameLike } from "./opus_packet.ts";

/** Frames with an RMS level below this are silence. */
export const SILENCE_FLOOR_DBFS = -60;
/** The floor as an RMS level, 0..1 of full scale. */
const SILENCE_FLOOR_LEVEL = 10 ** (SILENCE_FLOOR_DBFS / 20);
/** Frames under the floor still sent as sound after sound: 100 ms, for tails and soft onsets. */
export const SILENCE_HANGOVER_FRAMES = 5;

/** RMS level of 16-bit samples, 0..1 of full scale. */
export function rmsLevel(samples: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, samples.length)) / 32768;
}

/** Whether a frame of 16-bit samples is quieter than {@linkcode SILENCE_FLOOR_DBFS}. */
export function belowSilenceFloor(frame: Int16Array): boolean {
  return rmsLevel(frame) < SILENCE_FLOOR_LEVEL;
}

/**
 * Which of a microphone's 20 ms frames go as silence: those under the floor once
 * {@linkcode SILENCE_HANGOVER_FRAMES} quiet frames have gone as sound.
 */
export class SilenceGate {
  #quietFrames = 0;

  /** Takes the next frame's RMS level (0..1 of full scale); whether it goes as silence. */
  silent(level: number): boolean {
    this.#quietFrames = level < SILENCE_FLOOR_LEVEL ? this.#quietFrames + 1 : 0;
    return this.#quietFrames > SILENCE_HANGOVER_FRAMES;
  }

  /**
   * The frame to send for the next frame, encoded as `payload`, of RMS `level`: `payload`, or
   * an empty frame of its configuration when it goes as silence.
   */
  pass(payload: Uint8Array, level: number): Uint8Array {
    return this.silent(level) ? emptyOpusFrameLike(payload) : payload;
  }
}
