import assert from "node:assert/strict";
import { RealFft } from "./real_fft.ts";

/** The definition: |Σ x[n] e^(-2πikn/N)|², computed directly. */
function directPower(x: Float64Array): Float64Array {
  const n = x.length;
  return Float64Array.from({ length: n / 2 + 1 }, (_, k) => {
    let re = 0;
    let im = 0;
    for (let t = 0; t < n; t++) {
      re += x[t] * Math.cos((2 * Math.PI * k * t) / n);
      im -= x[t] * Math.sin((2 * Math.PI * k * t) / n);
    }
    return re * re + im * im;
  });
}

Deno.test("the real FFT's power spectrum equals the DFT's, for every size and any signal", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
  for (const size of [4, 8, 64, 512]) {
    const fft = new RealFft(size);
    const x = Float64Array.from({ length: size }, random);
    const power = new Float64Array(size / 2 + 1);
    fft.power(x, power);
    const expected = directPower(x);
    for (let k = 0; k <= size / 2; k++) {
      assert.ok(
        Math.abs(power[k] - expected[k]) < 1e-9 * (1 + expected[k]),
        `size ${size} bin ${k}`,
      );
    }
  }
});

Deno.test("a short frame is zero-padded and a sine lands in its own bin", () => {
  const fft = new RealFft(64);
  const power = new Float64Array(33);
  fft.power(
    Float64Array.from({ length: 64 }, (_, t) => Math.sin((2 * Math.PI * 5 * t) / 64)),
    power,
  );
  const peak = power.indexOf(Math.max(...power));
  assert.equal(peak, 5);
  fft.power([1, 1], power);
  assert.ok(
    power.every((p, k) =>
      Math.abs(p - directPower(Float64Array.of(1, 1, ...new Array(62).fill(0)))[k]) < 1e-9
    ),
  );
  assert.throws(() => new RealFft(48), RangeError);
});
