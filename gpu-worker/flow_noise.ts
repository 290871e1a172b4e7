/**
 * The flow head's starting noise for each micro-turn: reproducible from the session's seed and
 * the micro-turn's index, unit variance. It is drawn from a fixed bank of noise vectors (the
 * row chosen by hashing seed and index), so that a step on a GPU can send each row's bank
 * index instead of its 3,200 samples (12.8 KB a row, two thirds of what a step copied to the
 * device) and gather the noise from one copy of the bank kept in device memory
 * (gpu-worker/static_steps.ts). The vectors the functions here return are views of the bank:
 * read them, never write them.
 *
 * @module
 */
import { seededRandom } from "../lib/seeded_random.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";

/** Noise vectors in the bank (each micro-turn's is one of them, chosen by a hash). */
export const FLOW_NOISE_BANK_ROWS = 1024;

let bank: Float32Array | undefined;

/** The bank, `[FLOW_NOISE_BANK_ROWS, SAMPLES_PER_MICRO_TURN]`, made on first use (13 MB). */
export function flowNoiseBank(): Float32Array {
  if (!bank) {
    const random = seededRandom(0x6e6f6973);
    bank = new Float32Array(FLOW_NOISE_BANK_ROWS * SAMPLES_PER_MICRO_TURN);
    for (let i = 0; i < bank.length; i++) bank[i] = (2 * random() - 1) * Math.sqrt(3);
  }
  return bank;
}

/** The noise of micro-turn `index` of the session seeded `seed` (a view of the bank). */
export function flowNoise(seed: number, index: number): Float32Array {
  // A 32-bit mix of seed and index (murmur3's finalizer), then a row of the bank.
  let hash = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  const row = ((hash ^ (hash >>> 16)) >>> 0) % FLOW_NOISE_BANK_ROWS;
  return flowNoiseBank().subarray(row * SAMPLES_PER_MICRO_TURN, (row + 1) * SAMPLES_PER_MICRO_TURN);
}

/** The bank row `noise` is, or undefined when it is noise of the caller's own. */
export function flowNoiseBankRow(noise: Float32Array): number | undefined {
  if (!bank || noise.buffer !== bank.buffer || noise.length !== SAMPLES_PER_MICRO_TURN) {
    return undefined;
  }
  const row = noise.byteOffset / (SAMPLES_PER_MICRO_TURN * Float32Array.BYTES_PER_ELEMENT);
  return Number.isInteger(row) ? row : undefined;
}
