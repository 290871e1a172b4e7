import { speechFixture } from "../tests/support/speech_fixture.ts";
import assert from "node:assert/strict";
import { DmelExtractor, dmelLevel, meanDmelLevel as meanLevel } from "./dmel.ts";
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
