import assert from "node:assert/strict";
import {
  alawToLinear,
  decodeFormat,
  encodeFormat,
  linearToAlaw,
  linearToUlaw,
  Resampler,
  ulawToLinear,
} from "./audio_formats.ts";

function sine(rateHz: number, frequencyHz: number, seconds: number, amplitude = 10_000) {
  return Int16Array.from(
    { length: Math.round(rateHz * seconds) },
    (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * frequencyHz * i) / rateHz)),
  );
}

/** Amplitude of `frequencyHz` in `samples` (a single-bin DFT), skipping the filter's edges. */
function amplitudeAt(samples: Int16Array, rateHz: number, frequencyHz: number): number {
  let re = 0;
  let im = 0;
  const from = 200;
  const to = samples.length - 200;
  for (let i = from; i < to; i++) {
    re += samples[i] * Math.cos((2 * Math.PI * frequencyHz * i) / rateHz);
    im += samples[i] * Math.sin((2 * Math.PI * frequencyHz * i) / rateHz);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

Deno.test("resampling 24 kHz <-> 16 kHz and 8 kHz <-> 16 kHz keeps speech-band tones, removes what the lower rate cannot hold, and does not depend on chunking", () => {
  for (const [from, to] of [[24_000, 16_000], [16_000, 24_000], [8_000, 16_000], [16_000, 8_000]]) {
    const input = sine(from, 1000, 1);
    const whole = new Resampler(from, to).push(input);
    // The filter holds back half its width (16 input samples) until more input comes.
    assert.ok(Math.abs(whole.length - to) <= 40, `${from}->${to}: ${whole.length} samples`);
    const kept = amplitudeAt(whole, to, 1000);
    assert.ok(Math.abs(kept - 10_000) < 300, `${from}->${to}: 1 kHz at ${kept}`);
    // Odd chunk sizes give the same stream.
    const chunked = new Resampler(from, to);
    const parts: number[] = [];
    for (let at = 0; at < input.length; at += 137) {
      parts.push(...chunked.push(input.subarray(at, at + 137)));
    }
    assert.deepEqual(Int16Array.from(parts), whole);
  }
  // 10 kHz in 24 kHz audio cannot exist at 16 kHz (Nyquist 8 kHz): filtered, not aliased to 6.
  const high = new Resampler(24_000, 16_000).push(sine(24_000, 10_000, 1));
  assert.ok(amplitudeAt(high, 16_000, 6_000) < 300);
});

Deno.test("G.711 mu-law and A-law: every code decodes and re-encodes to itself; samples round-trip within the law's step", () => {
  for (let code = 0; code < 256; code++) {
    assert.equal(linearToUlaw(ulawToLinear(code)) === code || ulawToLinear(code) === 0, true);
    assert.equal(linearToAlaw(alawToLinear(code)), code);
  }
  for (const sample of [0, 1, -1, 100, -100, 1000, -1000, 12_345, -12_345, 32_767, -32_768]) {
    for (const [encode, decode] of [[linearToUlaw, ulawToLinear], [linearToAlaw, alawToLinear]]) {
      const back = decode(encode(sample));
      assert.ok(
        Math.abs(back - sample) <= Math.max(16, Math.abs(sample) / 16),
        `${sample} -> ${back}`,
      );
    }
  }
  const tone = sine(8_000, 440, 0.1);
  for (const format of ["audio/pcm", "audio/pcmu", "audio/pcma"] as const) {
    const back = decodeFormat(format, encodeFormat(format, tone));
    assert.equal(back.length, tone.length);
    assert.ok(back.every((v, i) => Math.abs(v - tone[i]) <= Math.max(16, Math.abs(tone[i]) / 16)));
  }
});
