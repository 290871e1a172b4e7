/**
 * Power spectrum of a real signal: an N-point real FFT computed as one N/2-point complex FFT
 * of the even and odd samples packed as real and imaginary parts, then split (the standard
 * "two for one" trick), so it costs about half a complex FFT of the same length. Every buffer
 * is allocated once, at construction.
 *
 * @module
 */

/** A Hann window of `length` points (0.5 - 0.5 cos(2πi / length)), for framing before the FFT. */
export function hannWindow(length: number): Float64Array {
  return Float64Array.from({ length }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / length));
}

/** Power spectra of `size`-point real frames; `size` a power of two, at least 4. */
export class RealFft {
  /** Points per frame. */
  readonly size: number;
  readonly #half: number;
  readonly #re: Float64Array;
  readonly #im: Float64Array;
  readonly #bitReversed: Uint16Array;
  /** Twiddles of the half-size complex FFT: e^(-2πik/(N/2)). */
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;
  /** Twiddles of the split: e^(-2πik/N). */
  readonly #splitCos: Float64Array;
  readonly #splitSin: Float64Array;

  /** @param size points per frame (a power of two) */
  constructor(size: number) {
    if (size < 4 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size ${size} is not a power of two >= 4`);
    }
    this.size = size;
    const half = size >> 1;
    this.#half = half;
    this.#re = new Float64Array(half);
    this.#im = new Float64Array(half);
    this.#bitReversed = Uint16Array.from({ length: half }, (_, i) => {
      let reversed = 0;
      for (let bit = 1, j = i; bit < half; bit <<= 1, j >>= 1) reversed = (reversed << 1) | (j & 1);
      return reversed;
    });
    this.#cos = Float64Array.from(
      { length: half / 2 },
      (_, k) => Math.cos((-2 * Math.PI * k) / half),
    );
    this.#sin = Float64Array.from(
      { length: half / 2 },
      (_, k) => Math.sin((-2 * Math.PI * k) / half),
    );
    this.#splitCos = Float64Array.from(
      { length: half + 1 },
      (_, k) => Math.cos((-2 * Math.PI * k) / size),
    );
    this.#splitSin = Float64Array.from(
      { length: half + 1 },
      (_, k) => Math.sin((-2 * Math.PI * k) / size),
    );
  }

  /**
   * Writes |X[k]|² for k = 0..size/2 of the real frame `input` (`size` samples; fewer are
   * zero-padded) into `power` (`size / 2 + 1` values).
   */
  power(input: ArrayLike<number>, power: Float64Array): void {
    const half = this.#half;
    const re = this.#re;
    const im = this.#im;
    const reversed = this.#bitReversed;
    const n = Math.min(input.length, this.size);
    for (let m = 0; m < half; m++) {
      const j = reversed[m];
      const even = 2 * m;
      re[j] = even < n ? input[even] : 0;
      im[j] = even + 1 < n ? input[even + 1] : 0;
    }
    this.#complexFftBitReversed();
    const cos = this.#splitCos;
    const sin = this.#splitSin;
    for (let k = 0; k <= half; k++) {
      const a = re[k === half ? 0 : k];
      const b = im[k === half ? 0 : k];
      const mirror = k === 0 ? 0 : half - k;
      const c = re[mirror];
      const d = im[mirror];
      // Even part E = (Z[k] + conj Z[M-k]) / 2, odd part O = (Z[k] - conj Z[M-k]) / 2i.
      const er = (a + c) / 2;
      const ei = (b - d) / 2;
      const or = (b + d) / 2;
      const oi = (c - a) / 2;
      const xr = er + cos[k] * or - sin[k] * oi;
      const xi = ei + cos[k] * oi + sin[k] * or;
      power[k] = xr * xr + xi * xi;
    }
  }

  /** In-place iterative radix-2 FFT of the half-size complex buffer, already bit-reversed. */
  #complexFftBitReversed(): void {
    const half = this.#half;
    const re = this.#re;
    const im = this.#im;
    for (let size = 2; size <= half; size <<= 1) {
      const span = size >> 1;
      const stride = half / size;
      for (let start = 0; start < half; start += size) {
        for (let k = 0; k < span; k++) {
          const cos = this.#cos[k * stride];
          const sin = this.#sin[k * stride];
          const a = start + k;
          const b = a + span;
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
}
