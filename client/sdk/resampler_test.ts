import assert from "node:assert/strict";
import { Resampler } from "./resampler.ts";

/** A sine of `hz` at `rate`, `seconds` long, amplitude 0.5. */
function sine(hz: number, rate: number, seconds: number): Float32Array {
  return Float32Array.from(
    { length: Math.round(rate * seconds) },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / rate),
  );
}

/** `signal` through a fresh 16 kHz resampler, in chunks of `chunk` samples. */
function resample(signal: Float32Array, rate: number, chunk: number): Float32Array {
  const resampler = new Resampler(rate, 16_000);
  const parts: number[] = [];
  for (let at = 0; at < signal.length; at += chunk) {
    parts.push(...resampler.push(signal.subarray(at, at + chunk)));
  }
  return Float32Array.from(parts);
}

/** RMS of `samples` after the first 10 ms (the filter's start). */
function rms(samples: Float32Array): number {
  const steady = samples.subarray(160);
  return Math.sqrt(steady.reduce((sum, s) => sum + s * s, 0) / steady.length);
}

/** Amplitude of the `hz` component of 16 kHz `samples` (after 10 ms), by correlation. */
function amplitudeAt(samples: Float32Array, hz: number): number {
  let re = 0;
  let im = 0;
  const steady = samples.subarray(160);
  steady.forEach((s, i) => {
    re += s * Math.cos((2 * Math.PI * hz * i) / 16_000);
    im += s * Math.sin((2 * Math.PI * hz * i) / 16_000);
  });
  return (2 * Math.hypot(re, im)) / steady.length;
}

for (const rate of [48_000, 44_100]) {
  Deno.test(`resampling ${rate} Hz to 16 kHz keeps speech's band and does not fold what lies above it`, () => {
    const seconds = 1;
    // 128 samples a render quantum, as the microphone's worklet hands them over.
    const out = resample(sine(1_000, rate, seconds), rate, 128);
    // One second in, one second out, less the filter's look-ahead (a few ms).
    assert.ok(out.length <= 16_000 && out.length >= 16_000 - 64, `${out.length} samples`);
    const gainDb = 20 * Math.log10(rms(out) / (0.5 / Math.SQRT2));
    assert.ok(Math.abs(gainDb) < 0.2, `1 kHz passes at ${gainDb.toFixed(2)} dB`);
    assert.ok(amplitudeAt(out, 1_000) > 0.49);
    // 6 kHz (top of the speech band the dMel front end hears) still passes.
    const high = resample(sine(6_000, rate, seconds), rate, 128);
    assert.ok(amplitudeAt(high, 6_000) > 0.45, `6 kHz at ${amplitudeAt(high, 6_000)}`);
    // 12 kHz would fold onto 4 kHz without the low-pass; 9 kHz onto 7 kHz.
    for (const [hz, folded] of [[12_000, 4_000], [9_000, 7_000]]) {
      const aliased = resample(sine(hz, rate, seconds), rate, 128);
      const db = 20 * Math.log10(rms(aliased) / (0.5 / Math.SQRT2));
      assert.ok(db < -40, `${hz} Hz leaks at ${db.toFixed(1)} dB (onto ${folded} Hz)`);
    }
  });
}

Deno.test("resampling gives the same samples whatever the chunks it is handed", () => {
  const signal = sine(440, 48_000, 0.5).map((s, i) => s + 0.1 * Math.sin(i / 7));
  const whole = resample(signal, 48_000, signal.length);
  for (const chunk of [1, 128, 333, 960]) {
    const chunked = resample(signal, 48_000, chunk);
    assert.equal(chunked.length, whole.length);
    assert.ok(chunked.every((s, i) => Math.abs(s - whole[i]) < 1e-6), `chunks of ${chunk}`);
  }
});
