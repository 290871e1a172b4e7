import assert from "node:assert/strict";
import { FLOW_NOISE_BANK_ROWS, flowNoise, flowNoiseBankRow } from "./flow_noise.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";

Deno.test("flow noise: reproducible per session and micro-turn, unit variance, a row of the bank", () => {
  assert.deepEqual(flowNoise(7, 3), flowNoise(7, 3));
  assert.equal(flowNoise(7, 3).length, SAMPLES_PER_MICRO_TURN);
  // A session's consecutive micro-turns, and two sessions' same micro-turn, get other rows.
  const rows = Array.from({ length: 200 }, (_, i) => flowNoiseBankRow(flowNoise(7, i))!);
  assert.ok(new Set(rows).size > 170, `${new Set(rows).size} distinct rows of 200`);
  assert.notDeepEqual(flowNoise(7, 3), flowNoise(8, 3));
  for (const row of rows) {
    assert.ok(Number.isInteger(row) && row >= 0 && row < FLOW_NOISE_BANK_ROWS);
  }
  const noise = flowNoise(1, 1);
  const mean = noise.reduce((sum, v) => sum + v, 0) / noise.length;
  const variance = noise.reduce((sum, v) => sum + (v - mean) ** 2, 0) / noise.length;
  assert.ok(Math.abs(mean) < 0.1 && Math.abs(variance - 1) < 0.1, `mean ${mean}, var ${variance}`);
  // Noise of the caller's own (a copy) is not a bank row.
  assert.equal(flowNoiseBankRow(Float32Array.from(noise)), undefined);
  assert.equal(flowNoiseBankRow(noise.subarray(1)), undefined);
});
