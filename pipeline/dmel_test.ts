import { speechFixture } from "../tests/support/speech_fixture.ts";
import assert from "node:assert/strict";
import {
  DMEL_HOP_SAMPLES,
  DMEL_WINDOW_SAMPLES,
  DmelExtractor,
  dmelLevel,
  dmelOfWindow,
  meanDmelLevel as meanLevel,
} from "./dmel.ts";
import { DMEL_BINS, DMEL_LEVELS } from "../protocol/media_format.ts";
import { hannWindow, RealFft } from "./real_fft.ts";

const speech = speechFixture();

Deno.test("dMel yields one 80-bin frame per 10 ms whatever the chunking", () => {
  const whole = new DmelExtractor().push(speech);
  assert.equal(whole.length, Math.floor(speech.length / 160) * DMEL_BINS);
  const chunked = new DmelExtractor();
  const parts: number[] = [];
  for (let start = 0; start < speech.length; start += 333) {
    parts.push(...chunked.push(speech.subarray(start, start + 333)));
  }
  assert.deepEqual(parts, [...whole]);
  assert.ok(whole.every((code) => code < DMEL_LEVELS));
});

Deno.test("dMel separates speech from silence", () => {
  const codes = new DmelExtractor().push(speech);
  // The fixture opens with 0.6 s of silence, then "Hello" from about 0.65 s to 1.05 s.
  const silence = codes.subarray(5 * DMEL_BINS, 55 * DMEL_BINS);
  const talking = codes.subarray(65 * DMEL_BINS, 105 * DMEL_BINS);
  assert.ok(meanLevel(silence) < 1, `silence level ${meanLevel(silence)}`);
  assert.ok(meanLevel(talking) > 4, `speech level ${meanLevel(talking)}`);
});

Deno.test("dMel levels are uniform in log energy from e^-7 to e^5, exact at every level's start", () => {
  // The kernel compares single-precision energies against the starts rounded to single.
  const starts = Array.from(
    { length: DMEL_LEVELS - 1 },
    (_, i) => Math.fround(Math.exp(-7 + (i + 1) * 0.75)),
  );
  const level = (energy: number) => starts.filter((start) => energy >= start).length;
  const bits = new DataView(new ArrayBuffer(4));
  const below = (x: number) => {
    bits.setFloat32(0, x);
    bits.setUint32(0, bits.getUint32(0) - 1);
    return bits.getFloat32(0);
  };
  const energies = [
    ...Array.from({ length: 20_000 }, (_, i) => Math.fround(10 ** (-14 + (22 * i) / 20_000))),
    ...starts.flatMap((start) => [start, below(start)]),
    1.401298464324817e-45, // the least single-precision value
    3.4028234663852886e38, // the greatest
  ];
  for (const energy of energies) assert.equal(dmelLevel(energy), level(energy), `energy ${energy}`);
  assert.equal(dmelLevel(1e-10), 0);
  assert.equal(dmelLevel(1e6), DMEL_LEVELS - 1);
});

Deno.test("dMel codes are those of the definition computed in double precision", () => {
  // The definition, written plainly: Hann window, 512-point power spectrum, HTK mel filters,
  // levels of the natural log of each energy.
  const fft = new RealFft(512);
  const hann = hannWindow(DMEL_WINDOW_SAMPLES);
  const mel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const edges = Array.from(
    { length: DMEL_BINS + 2 },
    (_, i) => 700 * (10 ** ((mel(8000) * i) / (DMEL_BINS + 1) / 2595) - 1),
  );
  const power = new Float64Array(257);
  const reference = (window: Float64Array) => {
    fft.power(window, power, hann);
    return Array.from({ length: DMEL_BINS }, (_, m) => {
      let energy = 0;
      for (let k = 0; k <= 256; k++) {
        const hz = (k * 16000) / 512;
        const weight = Math.min(
          (hz - edges[m]) / (edges[m + 1] - edges[m]),
          (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]),
        );
        if (weight > 0) energy += weight * power[k];
      }
      const level = Math.floor((Math.log(energy + 1e-10) + 7) / 0.75);
      return Math.min(DMEL_LEVELS - 1, Math.max(0, level));
    });
  };
  // Speech, and a loud sweep from 50 Hz to 8 kHz over 10 s.
  const sweep = Int16Array.from(
    { length: 160_000 },
    (_, i) =>
      Math.round(12_000 * Math.sin(2 * Math.PI * (50 * (i / 16_000) + 397.5 * (i / 16_000) ** 2))),
  );
  for (const [name, signal] of [["speech", speech], ["sweep", sweep]] as const) {
    const codes = new DmelExtractor().push(signal);
    const window = new Float64Array(DMEL_WINDOW_SAMPLES);
    let differing = 0;
    for (let hop = 0; hop < codes.length / DMEL_BINS; hop++) {
      const end = (hop + 1) * DMEL_HOP_SAMPLES;
      for (let i = 0; i < DMEL_WINDOW_SAMPLES; i++) {
        const at = end - DMEL_WINDOW_SAMPLES + i;
        window[i] = at < 0 ? 0 : signal[at] / 32768;
      }
      const expected = reference(window);
      for (let bin = 0; bin < DMEL_BINS; bin++) {
        const difference = Math.abs(codes[hop * DMEL_BINS + bin] - expected[bin]);
        assert.ok(difference <= 1, `${name}: hop ${hop} bin ${bin} is ${difference} levels off`);
        differing += difference;
      }
    }
    // Single precision moves an energy across a level's start only when it lies that close.
    assert.ok(differing <= codes.length / 10_000, `${name}: ${differing} of ${codes.length} codes`);
  }
});

Deno.test("dMel of speech among digital silence is each hop's window's codes, the silent ones 0", () => {
  // Silence, a 3 ms click at an odd place, silence, 150 ms of speech, silence, 1 ms click.
  const signal = new Int16Array(32_000);
  signal.set(speech.subarray(12_000, 12_048), 8_123);
  signal.set(speech.subarray(12_000, 14_400), 16_000);
  signal.set(speech.subarray(13_000, 13_016), 24_397);
  const hops = Math.floor(signal.length / DMEL_HOP_SAMPLES);
  const expected = new Uint8Array(hops * DMEL_BINS);
  const window = new Int16Array(DMEL_WINDOW_SAMPLES);
  for (let hop = 0; hop < hops; hop++) {
    const end = (hop + 1) * DMEL_HOP_SAMPLES;
    for (let i = 0; i < DMEL_WINDOW_SAMPLES; i++) {
      const at = end - DMEL_WINDOW_SAMPLES + i;
      window[i] = at < 0 ? 0 : signal[at];
    }
    dmelOfWindow(window, expected, hop * DMEL_BINS);
  }
  // In 20 ms frames as the pipeline feeds it, and in odd chunks.
  for (const chunk of [320, 77]) {
    const extractor = new DmelExtractor();
    const codes: number[] = [];
    for (let at = 0; at < signal.length; at += chunk) {
      codes.push(...extractor.push(signal.subarray(at, at + chunk)));
    }
    assert.deepEqual(codes, [...expected], `chunks of ${chunk}`);
  }
  // The clicks are heard in the hops whose windows hold them; the silence is all 0.
  const heard = (hop: number) =>
    expected.subarray(hop * DMEL_BINS, (hop + 1) * DMEL_BINS).some((c) => c > 0);
  assert.ok(heard(Math.floor(8_200 / DMEL_HOP_SAMPLES)), "the first click");
  assert.ok(heard(Math.floor(24_420 / DMEL_HOP_SAMPLES)), "the last click");
  const silent = Array.from({ length: hops }, (_, hop) => hop).filter((hop) => !heard(hop));
  assert.ok(silent.length > 0.8 * hops, `${silent.length} of ${hops} hops silent`);
});
