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
  const starts = Array.from({ length: DMEL_LEVELS - 1 }, (_, i) => Math.exp(-7 + (i + 1) * 0.75));
  const level = (energy: number) => starts.filter((start) => energy >= start).length;
  const bits = new DataView(new ArrayBuffer(8));
  const below = (x: number) => {
    bits.setFloat64(0, x);
    bits.setBigUint64(0, bits.getBigUint64(0) - 1n);
    return bits.getFloat64(0);
  };
  const energies = [
    ...Array.from({ length: 20_000 }, (_, i) => 10 ** (-14 + (22 * i) / 20_000)),
    ...starts.flatMap((start) => [start, below(start)]),
    Number.MIN_VALUE,
    Number.MAX_VALUE,
  ];
  for (const energy of energies) assert.equal(dmelLevel(energy), level(energy), `energy ${energy}`);
  assert.equal(dmelLevel(1e-10), 0);
  assert.equal(dmelLevel(1e6), DMEL_LEVELS - 1);
});

Deno.test("dMel of speech among digital silence is each hop's window's codes, the silent ones 0", () => {
  // Silence, a 3 ms click at an odd place, silence, 150 ms of speech, silence, 1 ms click.
  const signal = new Int16Array(32_000);
  signal.set(speech.subarray(12_000, 12_048), 8_123);
  signal.set(speech.subarray(12_000, 14_400), 16_000);
  signal.set(speech.subarray(13_000, 13_016), 24_397);
  const hops = Math.floor(signal.length / DMEL_HOP_SAMPLES);
  const expected = new Uint8Array(hops * DMEL_BINS);
  const window = new Float64Array(DMEL_WINDOW_SAMPLES);
  for (let hop = 0; hop < hops; hop++) {
    const end = (hop + 1) * DMEL_HOP_SAMPLES;
    for (let i = 0; i < DMEL_WINDOW_SAMPLES; i++) {
      const at = end - DMEL_WINDOW_SAMPLES + i;
      window[i] = at < 0 ? 0 : signal[at] / 32768;
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
