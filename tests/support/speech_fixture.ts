/**
 * The speech fixture (tests/fixtures/speech_16k.wav, espeak-ng, 16 kHz mono) and the signal
 * arithmetic tests and benchmarks apply to it: looping it to a length, its loudness per
 * micro-turn, and how well two loudness series agree.
 *
 * @module
 */
import { readWav } from "../../lib/wav_file.ts";
import { SAMPLES_PER_MICRO_TURN } from "../../protocol/media_format.ts";

/** Path of the fixture WAV (Chromium's fake microphone plays it from disk). */
export const SPEECH_FIXTURE_PATH = new URL("../fixtures/speech_16k.wav", import.meta.url).pathname;

/** The fixture's samples. */
export function speechFixture(): Int16Array {
  return readWav(Deno.readFileSync(SPEECH_FIXTURE_PATH)).samples;
}

/** `samples` repeated (the last repetition cut) to exactly `length` samples. */
export function loopSamples(samples: Int16Array, length: number): Int16Array {
  const looped = new Int16Array(length);
  for (let at = 0; at < length; at += samples.length) {
    looped.set(samples.subarray(0, Math.min(samples.length, length - at)), at);
  }
  return looped;
}

/**
 * RMS of each 200 ms block; a trailing partial block counts unless `wholeBlocksOnly` (for a
 * signal that loops, whose last block continues into the first).
 */
export function blockRms(samples: Int16Array, wholeBlocksOnly = false): number[] {
  const blocks: number[] = [];
  for (let start = 0; start < samples.length; start += SAMPLES_PER_MICRO_TURN) {
    const block = samples.subarray(start, start + SAMPLES_PER_MICRO_TURN);
    if (wholeBlocksOnly && block.length < SAMPLES_PER_MICRO_TURN) break;
    blocks.push(Math.sqrt(block.reduce((sum, s) => sum + s * s, 0) / block.length));
  }
  return blocks;
}

/** Pearson correlation of the first min(length) values of `a` and `b` (0 when one is flat). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb || 1);
}
