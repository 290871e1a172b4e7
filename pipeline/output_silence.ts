/**
 * What output audio counts as silence, not encoded and not sent: every frame of a micro-turn
 * the model's control head marked silent, and any 20 ms frame quieter than
 * {@linkcode SILENCE_FLOOR_DBFS}. One rule for both places output is encoded: the edge's
 * packetizer (pipeline/egress_packetizer.ts) and the worker's encoder threads
 * (gpu-worker/output_encoder_pool.ts).
 *
 * @module
 */
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** Output frames with an RMS level below this are silence (not encoded, not sent). */
export const SILENCE_FLOOR_DBFS = -60;
/** The floor as a sum of squared 16-bit samples over one 20 ms frame. */
const SILENCE_FLOOR_ENERGY = SAMPLES_PER_FRAME * (32768 * 10 ** (SILENCE_FLOOR_DBFS / 20)) ** 2;

/** Whether a 20 ms output frame is quieter than {@linkcode SILENCE_FLOOR_DBFS}. */
export function belowSilenceFloor(frame: Int16Array): boolean {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  return sum < SILENCE_FLOOR_ENERGY;
}
