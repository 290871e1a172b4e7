/**
 * Band-limited sample-rate conversion for 16-bit PCM (speech from espeak-ng's 22 050 Hz, a
 * benchmark's input at another rate), to the system's 16 kHz.
 *
 * @module
 */

/** Taps on each side of a windowed-sinc resampler's kernel. */
const HALF_TAPS = 16;

/**
 * Resamples with a Hann-windowed sinc low-passed below the lower Nyquist frequency (band-limited,
 * no aliasing into the speech band).
 */
export function resample(samples: Int16Array, fromHz: number, toHz: number): Int16Array {
  if (fromHz === toHz) return samples.slice();
  const ratio = toHz / fromHz;
  const cutoff = Math.min(1, ratio) * 0.95;
  const length = Math.floor(samples.length * ratio);
  const out = new Int16Array(length);
  const reach = HALF_TAPS / Math.min(1, ratio);
  for (let i = 0; i < length; i++) {
    const center = i / ratio;
    const first = Math.max(0, Math.ceil(center - reach));
    const last = Math.min(samples.length - 1, Math.floor(center + reach));
    let sum = 0;
    let weights = 0;
    for (let j = first; j <= last; j++) {
      const x = (j - center) * cutoff;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * (j - center)) / reach);
      const weight = sinc * window;
      sum += samples[j] * weight;
      weights += weight;
    }
    out[i] = Math.max(-32768, Math.min(32767, Math.round(sum / (weights || 1))));
  }
  return out;
}
