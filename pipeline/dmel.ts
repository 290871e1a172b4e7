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
import { hannWindow, RealFft } from "./real_fft.ts";

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

/**
 * Streaming dMel extractor for one mono 16 kHz stream. Keeps 15 ms of history; after
 * construction it allocates nothing unless {@linkcode push} is left to allocate its output.
 */
export class DmelExtractor {
  /** The analysis window: 15 ms of history, then the hop being filled. */
  #window = new Float64Array(DMEL_WINDOW_SAMPLES);
  /** Samples of the current hop received so far. */
  #filled = 0;
  #windowed = new Float64Array(DMEL_WINDOW_SAMPLES);
  #power = new Float64Array(FFT_SIZE / 2 + 1);

  /** Frames that `samples` more samples complete. */
  framesFor(samples: number): number {
    return Math.floor((this.#filled + samples) / DMEL_HOP_SAMPLES);
  }

  /**
   * Feeds PCM and returns the codes of every hop it completed: `DMEL_BINS` bytes per frame,
   * frames back to back, each value in [0, DMEL_LEVELS). They are written into `out` when
   * given (it needs `framesFor(pcm.length) * DMEL_BINS` bytes) and a view of it is returned.
   */
  push(
    pcm: Int16Array,
    out: Uint8Array = new Uint8Array(this.framesFor(pcm.length) * DMEL_BINS),
  ): Uint8Array {
    const window = this.#window;
    const history = DMEL_WINDOW_SAMPLES - DMEL_HOP_SAMPLES;
    let frame = 0;
    for (let i = 0; i < pcm.length; i++) {
      window[history + this.#filled++] = pcm[i] / 32768;
      if (this.#filled === DMEL_HOP_SAMPLES) {
        this.#analyze(out, frame++ * DMEL_BINS);
        window.copyWithin(0, DMEL_HOP_SAMPLES);
        this.#filled = 0;
      }
    }
    return out.subarray(0, frame * DMEL_BINS);
  }

  #analyze(out: Uint8Array, at: number): void {
    const windowed = this.#windowed;
    for (let i = 0; i < DMEL_WINDOW_SAMPLES; i++) windowed[i] = this.#window[i] * HANN[i];
    FFT.power(windowed, this.#power);
    const power = this.#power;
    for (let bin = 0; bin < DMEL_BINS; bin++) {
      const { start, weights } = MEL_FILTERS[bin];
      let energy = 0;
      for (let j = 0; j < weights.length; j++) energy += weights[j] * power[start + j];
      out[at + bin] = quantizeMelEnergy(energy + 1e-10);
    }
  }
}

/** Mean dMel code of `codes`, rounded to 0.01: a coarse loudness (0 is silence). */
export function meanDmelLevel(codes: Uint8Array): number {
  let sum = 0;
  for (const code of codes) sum += code;
  return Math.round((100 * sum) / Math.max(1, codes.length)) / 100;
}

/**
 * The energies where each level starts: level l >= 1 begins at exp(LOG_MEL_MIN + l * step).
 * Levels are uniform in natural-log mel energy from LOG_MEL_MIN to LOG_MEL_MAX, clamped;
 * comparing against these gives the level without a logarithm.
 */
const LEVEL_STARTS = Float64Array.from(
  { length: DMEL_LEVELS - 1 },
  (_, i) => Math.exp(LOG_MEL_MIN + ((i + 1) * (LOG_MEL_MAX - LOG_MEL_MIN)) / DMEL_LEVELS),
);

/** The dMel level of a mel energy: how many level starts it reaches (binary search). */
function quantizeMelEnergy(energy: number): number {
  let low = 0;
  let high = LEVEL_STARTS.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (energy >= LEVEL_STARTS[mid]) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** One FFT for every extractor: JavaScript is single-threaded and it keeps no state. */
const FFT = new RealFft(FFT_SIZE);

const HANN = hannWindow(DMEL_WINDOW_SAMPLES);

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
