/**
 * dMel features (Bai et al. 2024, "dMel: Speech Tokenization made Simple"): a log-mel
 * spectrogram with every bin discretized to a few levels. It is cheap DSP, so the edge
 * computes it and sends the worker small integer codes instead of PCM.
 *
 * The extractor is causal and streaming: the frame for hop `k` uses the 25 ms window that
 * ends where hop `k` ends, so a micro-turn's 20 frames need no look-ahead into the next one.
 *
 * @module
 */
import { DMEL_BINS, DMEL_HOP_MS, DMEL_LEVELS, SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

/** Samples advanced per frame: 10 ms at 16 kHz. */
export const DMEL_HOP_SAMPLES = (SAMPLE_RATE_HZ * DMEL_HOP_MS) / 1000;
/** Analysis window: 25 ms, the usual speech front-end window. */
export const DMEL_WINDOW_SAMPLES = (SAMPLE_RATE_HZ * 25) / 1000;
/** FFT size: the next power of two above the window. */
const FFT_SIZE = 512;
/** Natural-log mel energy mapped to level 0 (silence floor for 16-bit full-scale input). */
const LOG_MEL_MIN = -7;
/** Natural-log mel energy mapped to the top level (loud speech). */
const LOG_MEL_MAX = 5;

/** Streaming dMel extractor for one mono 16 kHz stream. Keeps 15 ms of history. */
export class DmelExtractor {
  #history = new Float32Array(DMEL_WINDOW_SAMPLES);
  #pending = new Float32Array(DMEL_HOP_SAMPLES);
  #pendingLength = 0;
  #frame = new Float64Array(FFT_SIZE);
  #imag = new Float64Array(FFT_SIZE);

  /**
   * Feeds PCM and returns the codes of every hop it completed: `DMEL_BINS` bytes per frame,
   * frames back to back, each value in [0, DMEL_LEVELS).
   */
  push(pcm: Int16Array): Uint8Array {
    const frames = Math.floor((this.#pendingLength + pcm.length) / DMEL_HOP_SAMPLES);
    const codes = new Uint8Array(frames * DMEL_BINS);
    let frame = 0;
    for (let i = 0; i < pcm.length; i++) {
      this.#pending[this.#pendingLength++] = pcm[i] / 32768;
      if (this.#pendingLength === DMEL_HOP_SAMPLES) {
        this.#history.copyWithin(0, DMEL_HOP_SAMPLES);
        this.#history.set(this.#pending, DMEL_WINDOW_SAMPLES - DMEL_HOP_SAMPLES);
        this.#pendingLength = 0;
        this.#analyze(codes.subarray(frame * DMEL_BINS, (frame + 1) * DMEL_BINS));
        frame++;
      }
    }
    return codes;
  }

  #analyze(out: Uint8Array): void {
    const re = this.#frame;
    const im = this.#imag;
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < DMEL_WINDOW_SAMPLES; i++) re[i] = this.#history[i] * HANN[i];
    fftInPlace(re, im);
    for (let bin = 0; bin < DMEL_BINS; bin++) {
      const { start, weights } = MEL_FILTERS[bin];
      let energy = 0;
      for (let j = 0; j < weights.length; j++) {
        const k = start + j;
        energy += weights[j] * (re[k] * re[k] + im[k] * im[k]);
      }
      out[bin] = quantizeLogMel(Math.log(energy + 1e-10));
    }
  }
}

/** Maps a natural-log mel energy to one of `DMEL_LEVELS` uniform levels, clamped. */
export function quantizeLogMel(logMel: number): number {
  const scaled = ((logMel - LOG_MEL_MIN) / (LOG_MEL_MAX - LOG_MEL_MIN)) * DMEL_LEVELS;
  return Math.min(DMEL_LEVELS - 1, Math.max(0, Math.floor(scaled)));
}

const HANN = Float64Array.from(
  { length: DMEL_WINDOW_SAMPLES },
  (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / DMEL_WINDOW_SAMPLES),
);

interface MelFilter {
  start: number;
  weights: Float64Array;
}

/** Triangular filters on the HTK mel scale from 0 Hz to Nyquist, stored sparsely. */
const MEL_FILTERS: MelFilter[] = (() => {
  const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const toHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);
  const maxMel = toMel(SAMPLE_RATE_HZ / 2);
  const edges = Array.from(
    { length: DMEL_BINS + 2 },
    (_, i) => toHz((maxMel * i) / (DMEL_BINS + 1)),
  );
  const binHz = SAMPLE_RATE_HZ / FFT_SIZE;
  return Array.from({ length: DMEL_BINS }, (_, m) => {
    const [lo, mid, hi] = [edges[m], edges[m + 1], edges[m + 2]];
    const start = Math.floor(lo / binHz);
    const end = Math.min(FFT_SIZE / 2, Math.ceil(hi / binHz));
    const weights = new Float64Array(end - start + 1);
    for (let k = start; k <= end; k++) {
      const hz = k * binHz;
      weights[k - start] = Math.max(0, Math.min((hz - lo) / (mid - lo), (hi - hz) / (hi - mid)));
    }
    return { start, weights };
  });
})();

const BIT_REVERSED = Uint16Array.from({ length: FFT_SIZE }, (_, i) => {
  let reversed = 0;
  for (let bit = 1, j = i; bit < FFT_SIZE; bit <<= 1, j >>= 1) reversed = (reversed << 1) | (j & 1);
  return reversed;
});

const TWIDDLE_COS = Float64Array.from(
  { length: FFT_SIZE / 2 },
  (_, k) => Math.cos((-2 * Math.PI * k) / FFT_SIZE),
);
const TWIDDLE_SIN = Float64Array.from(
  { length: FFT_SIZE / 2 },
  (_, k) => Math.sin((-2 * Math.PI * k) / FFT_SIZE),
);

/** Iterative radix-2 complex FFT of length `FFT_SIZE` with precomputed twiddles. */
function fftInPlace(re: Float64Array, im: Float64Array): void {
  for (let i = 0; i < FFT_SIZE; i++) {
    const j = BIT_REVERSED[i];
    if (j > i) {
      const r = re[i];
      re[i] = re[j];
      re[j] = r;
      const m = im[i];
      im[i] = im[j];
      im[j] = m;
    }
  }
  for (let size = 2; size <= FFT_SIZE; size <<= 1) {
    const half = size >> 1;
    const stride = FFT_SIZE / size;
    for (let start = 0; start < FFT_SIZE; start += size) {
      for (let k = 0; k < half; k++) {
        const cos = TWIDDLE_COS[k * stride];
        const sin = TWIDDLE_SIN[k * stride];
        const a = start + k;
        const b = a + half;
        const tr = re[b] * cos - im[b] * sin;
        const ti = re[b] * sin + im[b] * cos;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}
