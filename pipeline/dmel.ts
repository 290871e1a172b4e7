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
 * A window of digital silence (the client's silence, pipeline/silence_floor.ts) has every code
 * 0 without an FFT.
 */
export class DmelExtractor {
  /** The analysis window: 15 ms of history, then the hop being filled. */
  #window = new Float64Array(DMEL_WINDOW_SAMPLES);
  /** Samples of the current hop received so far. */
  #filled = 0;
  /** Zero samples at the end of the window (at least; a run is counted from a zero chunk). */
  #zeros = 0;

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
    let filled = this.#filled;
    let zeros = this.#zeros;
    for (let i = 0; i < pcm.length;) {
      const take = Math.min(DMEL_HOP_SAMPLES - filled, pcm.length - i);
      let bits = 0;
      for (let end = i + take, to = history + filled; i < end; i++, to++) {
        const sample = pcm[i];
        bits |= sample;
        window[to] = sample / 32768;
      }
      zeros = bits === 0 ? zeros + take : 0;
      filled += take;
      if (filled === DMEL_HOP_SAMPLES) {
        const at = frame++ * DMEL_BINS;
        if (zeros >= DMEL_WINDOW_SAMPLES) out.fill(0, at, at + DMEL_BINS);
        else dmelOfWindow(window, out, at);
        window.copyWithin(0, DMEL_HOP_SAMPLES);
        filled = 0;
      }
    }
    this.#filled = filled;
    this.#zeros = zeros;
    // `out` itself when it is exactly filled (every 20 ms frame into the stage's buffer): a new
    // view every frame was 2 % of all an edge allocated.
    return frame * DMEL_BINS === out.length ? out : out.subarray(0, frame * DMEL_BINS);
  }
}

/**
 * The dMel codes of one analysis window (`DMEL_WINDOW_SAMPLES` samples scaled to [-1, 1)),
 * written into `out` at `at`: what {@linkcode DmelExtractor} computes for each hop.
 */
export function dmelOfWindow(window: Float64Array, out: Uint8Array, at = 0): void {
  FFT.power(window, POWER, HANN);
  const { starts, ends, weights } = MEL_FILTERS;
  for (let bin = 0, j = 0; bin < DMEL_BINS; bin++) {
    let energy = 0;
    for (let k = starts[bin], end = ends[bin]; k <= end; k++) energy += weights[j++] * POWER[k];
    out[at + bin] = dmelLevel(energy + 1e-10);
  }
}

/** Mean dMel code of `codes`, rounded to 0.01: a coarse loudness (0 is silence). */
export function meanDmelLevel(codes: Uint8Array): number {
  let sum = 0;
  // Indexed: V8 does not optimize away a typed array's iterator (7x slower, 1600 codes).
  for (let i = 0; i < codes.length; i++) sum += codes[i];
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

/**
 * The level of an energy from its binary exponent: levels are more than a factor of two
 * apart, so each binade [2^e, 2^(e+1)) holds at most one level start. For the binades from
 * 2^BINADE_LOW to 2^BINADE_HIGH, `below` counts the starts under the binade and `start` is
 * the one inside it (Infinity if none); energies outside are clamped to the ends, where no
 * start lies. One table look-up and one comparison instead of a binary search (whose
 * branches the CPU cannot predict: about a sixth of dMel's time).
 */
const BINADE_LOW = Math.floor(Math.log2(LEVEL_STARTS[0])) - 1;
const BINADE_HIGH = Math.ceil(Math.log2(LEVEL_STARTS[LEVEL_STARTS.length - 1])) + 1;
const BINADES = (() => {
  const below = new Uint8Array(BINADE_HIGH - BINADE_LOW + 1);
  const start = new Float64Array(below.length).fill(Infinity);
  for (let e = BINADE_LOW; e <= BINADE_HIGH; e++) {
    const inside = LEVEL_STARTS.filter((s) => s >= 2 ** e && s < 2 ** (e + 1));
    if (inside.length > 1) throw new RangeError("dMel levels closer than a factor of two");
    below[e - BINADE_LOW] = LEVEL_STARTS.filter((s) => s < 2 ** e).length;
    if (inside.length) start[e - BINADE_LOW] = inside[0];
  }
  return { below, start };
})();
const exponentBits = new DataView(new ArrayBuffer(8));

/**
 * The dMel level of a positive mel energy: how many level starts it reaches, i.e.
 * floor((ln energy - LOG_MEL_MIN) / step) clamped to [0, DMEL_LEVELS).
 */
export function dmelLevel(energy: number): number {
  exponentBits.setFloat64(0, energy);
  const exponent = ((exponentBits.getUint16(0) >> 4) & 0x7ff) - 1023;
  const binade = Math.min(Math.max(exponent, BINADE_LOW), BINADE_HIGH) - BINADE_LOW;
  return BINADES.below[binade] + (energy >= BINADES.start[binade] ? 1 : 0);
}

/** One FFT and power spectrum for every extractor: JavaScript is single-threaded. */
const FFT = new RealFft(FFT_SIZE);
const POWER = new Float64Array(FFT_SIZE / 2 + 1);

const HANN = hannWindow(DMEL_WINDOW_SAMPLES);

/**
 * Triangular filters on the HTK mel scale from 0 Hz to Nyquist, stored sparsely and flat:
 * filter m weighs FFT bins `starts[m]..ends[m]`, its weights next in `weights`.
 */
const MEL_FILTERS = (() => {
  const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const toHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);
  const maxMel = toMel(SAMPLE_RATE_HZ / 2);
  const edges = Array.from(
    { length: DMEL_BINS + 2 },
    (_, i) => toHz((maxMel * i) / (DMEL_BINS + 1)),
  );
  const binHz = SAMPLE_RATE_HZ / FFT_SIZE;
  const starts = new Int32Array(DMEL_BINS);
  const ends = new Int32Array(DMEL_BINS);
  const weights: number[] = [];
  for (let m = 0; m < DMEL_BINS; m++) {
    const [lo, mid, hi] = [edges[m], edges[m + 1], edges[m + 2]];
    starts[m] = Math.floor(lo / binHz);
    ends[m] = Math.min(FFT_SIZE / 2, Math.ceil(hi / binHz));
    for (let k = starts[m]; k <= ends[m]; k++) {
      const hz = k * binHz;
      weights.push(Math.max(0, Math.min((hz - lo) / (mid - lo), (hi - hz) / (hi - mid))));
    }
  }
  return { starts, ends, weights: Float64Array.from(weights) };
})();
