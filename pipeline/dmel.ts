/**
 * dMel features (Bai et al. 2024, "dMel: Speech Tokenization made Simple"): a log-mel
 * spectrogram with every bin discretized to a few levels. It is cheap DSP, so the edge
 * computes it and sends the worker small integer codes instead of PCM.
 *
 * The extractor is causal and streaming: the frame for hop `k` uses the 25 ms window that
 * ends where hop `k` ends, so a micro-turn's 20 frames need no look-ahead into the next one.
 * Each window's codes come from a WebAssembly SIMD kernel (pipeline/dmel_kernel.c, built into
 * pipeline/dmel_kernel.wasm by `deno task build:wasm`) whose tables this module fills.
 *
 * @module
 */
import { DMEL_BINS, DMEL_HOP_MS, DMEL_LEVELS, SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import { hannWindow } from "./real_fft.ts";
import * as kernel from "./dmel_kernel.wasm";

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
  #window = new Int16Array(DMEL_WINDOW_SAMPLES);
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
        window[to] = sample;
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
 * The dMel codes of one analysis window (`DMEL_WINDOW_SAMPLES` 16-bit samples), written into
 * `out` at `at`: what {@linkcode DmelExtractor} computes for each hop. The Hann window, the
 * 512-point FFT's power spectrum, the mel filters and the levels run in the WebAssembly
 * kernel (pipeline/dmel_kernel.c), in single precision.
 */
export function dmelOfWindow(window: Int16Array, out: Uint8Array, at = 0): void {
  KERNEL_WINDOW.set(window);
  kernel.dmel_compute();
  out.set(KERNEL_CODES, at);
}

/** Mean dMel code of `codes`, rounded to 0.01: a coarse loudness (0 is silence). */
export function meanDmelLevel(codes: Uint8Array): number {
  let sum = 0;
  // Indexed: V8 does not optimize away a typed array's iterator (7x slower, 1600 codes).
  for (let i = 0; i < codes.length; i++) sum += codes[i];
  return Math.round((100 * sum) / Math.max(1, codes.length)) / 100;
}

/**
 * The energies where each level starts: level l >= 1 begins at exp(LOG_MEL_MIN + l * step)
 * (in single precision, as the kernel compares). Levels are uniform in natural-log mel energy
 * from LOG_MEL_MIN to LOG_MEL_MAX, clamped; comparing against these gives the level without a
 * logarithm.
 */
const LEVEL_STARTS = Float32Array.from(
  { length: DMEL_LEVELS - 1 },
  (_, i) => Math.exp(LOG_MEL_MIN + ((i + 1) * (LOG_MEL_MAX - LOG_MEL_MIN)) / DMEL_LEVELS),
);

/**
 * The dMel level of a positive mel energy (rounded to single precision): how many level
 * starts it reaches, i.e. floor((ln energy - LOG_MEL_MIN) / step) clamped to [0, DMEL_LEVELS).
 * The kernel's own comparison, as {@linkcode dmelOfWindow} makes it.
 */
export function dmelLevel(energy: number): number {
  return kernel.dmel_level(energy);
}

// The kernel allocates nothing and never grows its memory, so these views stay valid.
const memory = kernel.memory.buffer;
const KERNEL_WINDOW = new Int16Array(memory, kernel.dmel_window(), DMEL_WINDOW_SAMPLES);
const KERNEL_CODES = new Uint8Array(memory, kernel.dmel_codes(), DMEL_BINS);

/** Fills the kernel's tables: its window, twiddles, mel filters and level starts. */
function fillKernelTables(): void {
  const floats = (at: number, length: number) => new Float32Array(memory, at, length);
  const half = FFT_SIZE / 2;
  // The Hann window over the analysis window, scaled from 16-bit samples to [-1, 1), split
  // into its even and odd points (the complex FFT's real and imaginary parts).
  const hann = hannWindow(DMEL_WINDOW_SAMPLES);
  const even = floats(kernel.dmel_hann_even(), half);
  const odd = floats(kernel.dmel_hann_odd(), half);
  for (let m = 0; m < DMEL_WINDOW_SAMPLES / 2; m++) {
    even[m] = hann[2 * m] / 32768;
    odd[m] = hann[2 * m + 1] / 32768;
  }
  // The radix-4 stages' twiddles W_n^p, W_n^2p, W_n^3p (W_n = e^(-2πi/n)): the first stage's
  // (n = 256) by component, the later ones' (n = 64, 16, 4) by p.
  const twiddle = (n: number, p: number, power: number) => {
    const angle = (-2 * Math.PI * power * p) / n;
    return [Math.cos(angle), Math.sin(angle)];
  };
  const first = floats(kernel.dmel_first_twiddles(), 6 * 64);
  for (let p = 0; p < half / 4; p++) {
    for (let power = 1; power <= 3; power++) {
      const [cos, sin] = twiddle(half, p, power);
      first[(power - 1) * 128 + p] = cos;
      first[(power - 1) * 128 + 64 + p] = sin;
    }
  }
  floats(kernel.dmel_later_twiddles(), 6 * 21).set(
    [64, 16, 4].flatMap((n) =>
      Array.from({ length: n / 4 }, (_, p) => [1, 2, 3].flatMap((k) => twiddle(n, p, k))).flat()
    ),
  );
  const cos = floats(kernel.dmel_split_cos(), half + 1);
  const sin = floats(kernel.dmel_split_sin(), half + 1);
  for (let k = 0; k <= half; k++) {
    cos[k] = Math.cos((-2 * Math.PI * k) / FFT_SIZE);
    sin[k] = Math.sin((-2 * Math.PI * k) / FFT_SIZE);
  }
  // Triangular filters on the HTK mel scale from 0 Hz to Nyquist: filter m weighs the FFT
  // bins from its start, its weights padded with zeros to a multiple of four.
  const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const toHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);
  const maxMel = toMel(SAMPLE_RATE_HZ / 2);
  const edges = Array.from(
    { length: DMEL_BINS + 2 },
    (_, i) => toHz((maxMel * i) / (DMEL_BINS + 1)),
  );
  const binHz = SAMPLE_RATE_HZ / FFT_SIZE;
  const starts = new Int32Array(memory, kernel.dmel_mel_start(), DMEL_BINS);
  const counts = new Int32Array(memory, kernel.dmel_mel_count(), DMEL_BINS);
  const weights: number[] = [];
  for (let m = 0; m < DMEL_BINS; m++) {
    const [lo, mid, hi] = [edges[m], edges[m + 1], edges[m + 2]];
    const before = weights.length;
    starts[m] = Math.floor(lo / binHz);
    const end = Math.min(half, Math.ceil(hi / binHz));
    for (let k = starts[m]; k <= end; k++) {
      const hz = k * binHz;
      weights.push(Math.max(0, Math.min((hz - lo) / (mid - lo), (hi - hz) / (hi - mid))));
    }
    while ((weights.length & 3) !== 0) weights.push(0);
    counts[m] = weights.length - before;
  }
  if (weights.length > kernel.dmel_mel_weights_capacity()) {
    throw new RangeError(`${weights.length} mel weights: the kernel holds fewer`);
  }
  floats(kernel.dmel_mel_weights(), weights.length).set(weights);
  // Levels from an energy's binary exponent: levels are more than a factor of two apart, so
  // each binade [2^e, 2^(e+1)) holds at most one level start. For the binades from `low` to
  // `high`, how many starts lie under it and the one inside it (Infinity if none); energies
  // outside are clamped to the ends, where no start lies. One look-up and one comparison
  // instead of a binary search (whose branches the CPU cannot predict).
  const low = Math.floor(Math.log2(LEVEL_STARTS[0])) - 1;
  const high = Math.ceil(Math.log2(LEVEL_STARTS[LEVEL_STARTS.length - 1])) + 1;
  const below = new Uint8Array(memory, kernel.dmel_binade_below(), high - low + 1);
  const inside = floats(kernel.dmel_binade_start(), high - low + 1);
  for (let e = low; e <= high; e++) {
    const startsInBinade = LEVEL_STARTS.filter((s) => s >= 2 ** e && s < 2 ** (e + 1));
    if (startsInBinade.length > 1) throw new RangeError("dMel levels closer than a factor of two");
    below[e - low] = LEVEL_STARTS.filter((s) => s < 2 ** e).length;
    inside[e - low] = startsInBinade.length ? startsInBinade[0] : Infinity;
  }
  kernel.dmel_set_binades(low, high);
}
fillKernelTables();
