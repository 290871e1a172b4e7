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
  /** Whether log2(size / 2) is odd: the complex FFT starts with one radix-2 stage. */
  readonly #radix2First: boolean;
  /**
   * Twiddles of the complex FFT's radix-4 stages after the first (whose twiddles are 1),
   * stage after stage: for a stage of span h and each k < h, W^2k, W^k and W^3k (cos then sin
   * of each) with W = e^(-2πi/4h).
   */
  readonly #twiddles: Float64Array;
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
    this.#radix2First = Math.log2(half) % 2 === 1;
    const twiddles: number[] = [];
    for (let span = this.#radix2First ? 2 : 4; span < half; span <<= 2) {
      for (let k = 0; k < span; k++) {
        for (const power of [2 * k, k, 3 * k]) {
          const angle = (-2 * Math.PI * power) / (4 * span);
          twiddles.push(Math.cos(angle), Math.sin(angle));
        }
      }
    }
    this.#twiddles = Float64Array.from(twiddles);
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
   * zero-padded) into `power` (`size / 2 + 1` values). With `window` (at least as long as the
   * frame), each sample is first multiplied by its point of the window.
   */
  power(input: ArrayLike<number>, power: Float64Array, window?: ArrayLike<number>): void {
    const half = this.#half;
    const re = this.#re;
    const im = this.#im;
    const reversed = this.#bitReversed;
    const n = Math.min(input.length, this.size);
    for (let m = 0; m < half; m++) {
      const j = reversed[m];
      const even = 2 * m;
      re[j] = even < n ? (window ? input[even] * window[even] : input[even]) : 0;
      im[j] = even + 1 < n ? (window ? input[even + 1] * window[even + 1] : input[even + 1]) : 0;
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

  /**
   * In-place complex FFT of the half-size buffer, already bit-reversed: the radix-2
   * decimation-in-time stages taken two at a time (each pair of stages is one radix-4
   * butterfly of three twiddle products, so every value is loaded and stored half as often),
   * after one radix-2 stage when their number is odd.
   */
  #complexFftBitReversed(): void {
    const half = this.#half;
    const re = this.#re;
    const im = this.#im;
    const twiddles = this.#twiddles;
    let span = 1;
    if (this.#radix2First) {
      for (let a = 0; a < half; a += 2) {
        const tr = re[a + 1];
        const ti = im[a + 1];
        re[a + 1] = re[a] - tr;
        im[a + 1] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
      span = 2;
    } else if (half >= 4) {
      // The first radix-4 stage's twiddles are all 1.
      for (let p0 = 0; p0 < half; p0 += 4) {
        const x0r = re[p0];
        const x0i = im[p0];
        const x1r = re[p0 + 1];
        const x1i = im[p0 + 1];
        const ur = re[p0 + 2] + re[p0 + 3];
        const ui = im[p0 + 2] + im[p0 + 3];
        const vr = re[p0 + 2] - re[p0 + 3];
        const vi = im[p0 + 2] - im[p0 + 3];
        re[p0] = x0r + x1r + ur;
        im[p0] = x0i + x1i + ui;
        re[p0 + 2] = x0r + x1r - ur;
        im[p0 + 2] = x0i + x1i - ui;
        re[p0 + 1] = x0r - x1r + vi;
        im[p0 + 1] = x0i - x1i - vr;
        re[p0 + 3] = x0r - x1r - vi;
        im[p0 + 3] = x0i - x1i + vr;
      }
      span = 4;
    }
    for (let t = 0; span < half; span <<= 2) {
      const size = span << 2;
      for (let k = 0; k < span; k++, t += 6) {
        const c1 = twiddles[t];
        const s1 = twiddles[t + 1];
        const c2 = twiddles[t + 2];
        const s2 = twiddles[t + 3];
        const c3 = twiddles[t + 4];
        const s3 = twiddles[t + 5];
        for (let p0 = k; p0 < half; p0 += size) {
          const p1 = p0 + span;
          const p2 = p1 + span;
          const p3 = p2 + span;
          // q1 = W^2k x1, q2 = W^k x2, q3 = W^3k x3.
          const q1r = re[p1] * c1 - im[p1] * s1;
          const q1i = re[p1] * s1 + im[p1] * c1;
          const q2r = re[p2] * c2 - im[p2] * s2;
          const q2i = re[p2] * s2 + im[p2] * c2;
          const q3r = re[p3] * c3 - im[p3] * s3;
          const q3i = re[p3] * s3 + im[p3] * c3;
          const x0r = re[p0];
          const x0i = im[p0];
          const b0r = x0r + q1r;
          const b0i = x0i + q1i;
          const b1r = x0r - q1r;
          const b1i = x0i - q1i;
          const ur = q2r + q3r;
          const ui = q2i + q3i;
          const vr = q2r - q3r;
          const vi = q2i - q3i;
          re[p0] = b0r + ur;
          im[p0] = b0i + ui;
          re[p2] = b0r - ur;
          im[p2] = b0i - ui;
          // W^(k+span) = -i W^k: x1' = b1 - i v, x3' = b1 + i v.
          re[p1] = b1r + vi;
          im[p1] = b1i - vr;
          re[p3] = b1r - vi;
          im[p3] = b1i + vr;
        }
      }
    }
  }
}
