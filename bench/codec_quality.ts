/**
 * How much a codec changes audio, for the codec benches (bench:codec, bench:uplink): the
 * decoded stream's delay, the log-spectral distance to the original, and how far apart the
 * dMel codes of the two lie (what this system's own front end hears).
 *
 * @module
 */
import { hannWindow, RealFft } from "../pipeline/real_fft.ts";
import { DmelExtractor } from "../pipeline/dmel.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

const LSD_FFT = 512;
const fft = new RealFft(LSD_FFT);
const HANN = hannWindow(LSD_FFT);

/** The decoded stream's delay against the original, by cross-correlation (0 to 30 ms). */
export function codecDelay(original: Int16Array, decoded: Int16Array): number {
  let best = 0;
  let bestScore = -Infinity;
  const span = 4 * SAMPLE_RATE_HZ;
  for (let lag = 0; lag <= 480; lag++) {
    let score = 0;
    for (let i = SAMPLE_RATE_HZ; i < SAMPLE_RATE_HZ + span; i++) {
      score += original[i] * decoded[i + lag];
    }
    if (score > bestScore) [best, bestScore] = [lag, score];
  }
  return best;
}

/**
 * Mean over sounding frames (32 ms, hop 16 ms, above -50 dBFS) of the RMS difference of the
 * two log power spectra, in dB, over 0-8 kHz, each bin floored 50 dB below the frame's
 * loudest (what lies under it is inaudible beside it).
 */
export function logSpectralDistance(
  original: Int16Array,
  decoded: Int16Array,
  delay: number,
): number {
  const frame = new Float64Array(LSD_FFT);
  const reference = new Float64Array(LSD_FFT / 2 + 1);
  const test = new Float64Array(LSD_FFT / 2 + 1);
  const floor = LSD_FFT * (32768 * 10 ** (-50 / 20)) ** 2;
  let sum = 0;
  let count = 0;
  for (let at = 0; at + LSD_FFT + delay <= original.length; at += LSD_FFT / 2) {
    let energy = 0;
    for (let i = 0; i < LSD_FFT; i++) {
      frame[i] = original[at + i] * HANN[i];
      energy += original[at + i] ** 2;
    }
    if (energy < floor) continue;
    fft.power(frame, reference);
    for (let i = 0; i < LSD_FFT; i++) frame[i] = decoded[at + delay + i] * HANN[i];
    fft.power(frame, test);
    // Bins more than 50 dB below the frame's loudest are inaudible: floored there.
    const binFloor = Math.max(...reference) * 1e-5;
    let squares = 0;
    for (let k = 1; k <= LSD_FFT / 2; k++) {
      const db = 10 * Math.log10(Math.max(reference[k], binFloor) / Math.max(test[k], binFloor));
      squares += db * db;
    }
    sum += Math.sqrt(squares / (LSD_FFT / 2));
    count++;
  }
  return sum / count;
}

/**
 * Mean absolute difference of the dMel codes (levels, of 16) of the original and of its
 * decoded audio: how much the codec changes what this system's own front end hears.
 */
export function dmelDifference(original: Int16Array, decoded: Int16Array, delay: number): number {
  const reference = new DmelExtractor().push(original.subarray(0, original.length - delay));
  const test = new DmelExtractor().push(decoded.subarray(delay));
  let sum = 0;
  for (let i = 0; i < reference.length; i++) sum += Math.abs(reference[i] - test[i]);
  return sum / reference.length;
}
