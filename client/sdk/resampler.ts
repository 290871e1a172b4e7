/**
 * Sample-rate conversion for the microphone: from the rate the audio context runs at (48 kHz
 * where the browser grants what the SDK asks) to the 16 kHz the edge hears. A windowed-sinc
 * low-pass cuts what lies above the output's band first, so it does not fold back into speech
 * (picking every third sample of 48 kHz audio would fold 8-24 kHz into 0-8 kHz).
 *
 * @module
 */

/** Half the filter's length, in input samples per output sample step (zero crossings a side). */
const ZERO_CROSSINGS = 21;
/** Fractional positions the filter is tabulated at (nearest is used). */
const PHASES = 64;
/** Cutoff as a share of the output's Nyquist frequency (7.2 kHz at 16 kHz). */
const CUTOFF = 0.9;

/** A streaming resampler of mono float samples; see the module doc. */
export class Resampler {
  /** Input samples per output sample. */
  readonly #step: number;
  /** Taps a side of an output sample's position. */
  readonly #half: number;
  /** The filter at each phase: `PHASES + 1` rows of `2 * #half` taps. */
  readonly #kernels: Float32Array;
  /** Input not yet behind every future output, starting at input index `#base`. */
  #buffer: Float32Array;
  #base: number;
  /** Input position (fractional) of the next output sample. */
  #next = 0;

  /**
   * @param inputRate samples a second coming in
   * @param outputRate samples a second going out
   */
  constructor(inputRate: number, outputRate: number) {
    this.#step = inputRate / outputRate;
    const scale = Math.min(1, outputRate / inputRate);
    this.#half = Math.ceil(ZERO_CROSSINGS / scale);
    const taps = 2 * this.#half;
    this.#kernels = new Float32Array((PHASES + 1) * taps);
    const cutoff = CUTOFF * scale; // cycles per input sample, times two
    for (let phase = 0; phase <= PHASES; phase++) {
      const row = this.#kernels.subarray(phase * taps, (phase + 1) * taps);
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        // Tap k weighs input sample floor(position) - half + 1 + k.
        const x = k - this.#half + 1 - phase / PHASES;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * cutoff * x) / (Math.PI * cutoff * x);
        const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / (this.#half + 1)); // Hann
        row[k] = sinc * w;
        sum += row[k];
      }
      for (let k = 0; k < taps; k++) row[k] /= sum; // unit gain at 0 Hz
    }
    // Silence before the first sample: the first outputs need the taps behind them.
    this.#buffer = new Float32Array(this.#half);
    this.#base = -this.#half;
  }

  /** Takes the next input samples; returns the output samples they complete. */
  push(input: Float32Array): Float32Array<ArrayBuffer> {
    const buffer = new Float32Array(this.#buffer.length + input.length);
    buffer.set(this.#buffer);
    buffer.set(input, this.#buffer.length);
    const half = this.#half;
    const taps = 2 * half;
    const end = this.#base + buffer.length; // input index after the last one held
    // Outputs whose last tap, input floor(position) + half, is held.
    const count = Math.max(0, Math.ceil((end - half - this.#next) / this.#step));
    const out = new Float32Array(count);
    for (let n = 0; n < count; n++) {
      const position = this.#next + n * this.#step;
      const whole = Math.floor(position);
      const phase = Math.round((position - whole) * PHASES);
      const first = whole - half + 1 - this.#base;
      const kernel = phase * taps;
      let sum = 0;
      for (let k = 0; k < taps; k++) sum += this.#kernels[kernel + k] * buffer[first + k];
      out[n] = sum;
    }
    this.#next += count * this.#step;
    // Keep what the next outputs still need: from their first tap on.
    const keepFrom = Math.floor(this.#next) - half + 1 - this.#base;
    this.#buffer = buffer.slice(Math.max(0, keepFrom));
    this.#base += Math.max(0, keepFrom);
    return out;
  }
}
