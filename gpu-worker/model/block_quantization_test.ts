import assert from "node:assert/strict";
import {
  blockQuantizedMatMul,
  dequantizeBlockwise,
  quantizeBlockwise,
} from "./block_quantization.ts";
import { OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import { OrtModelSession } from "../ort/ort_session.ts";
import { seededRandom } from "../../lib/seeded_random.ts";

const ROWS = 64;
const COLS = 24;
const random = seededRandom(5);
const weights = Float32Array.from({ length: ROWS * COLS }, () => 2 * random() - 1);

for (const bits of [8, 4] as const) {
  Deno.test(`${bits}-bit blocks: each weight within half a step of its block's scale`, () => {
    const quantized = quantizeBlockwise(weights, ROWS, COLS, bits);
    assert.deepEqual(quantized.packedDims, [COLS, ROWS / 32, (32 * bits) / 8]);
    const restored = dequantizeBlockwise(quantized, ROWS, COLS, bits);
    for (let i = 0; i < weights.length; i++) {
      const row = Math.floor(i / COLS);
      const scale = quantized.scales[(i % COLS) * (ROWS / 32) + Math.floor(row / 32)];
      assert.ok(Math.abs(restored[i] - weights[i]) <= scale / 2 + 1e-7, `weight ${i}`);
    }
  });

  Deno.test(`${bits}-bit blocks: ONNX Runtime's MatMulNBits reads them as x @ the restored weights`, async () => {
    const quantized = quantizeBlockwise(weights, ROWS, COLS, bits);
    const g = new OnnxGraphBuilder("matmul_nbits");
    const x = g.input("x", "float32", [3, ROWS]);
    blockQuantizedMatMul(g, x, weights, ROWS, COLS, {
      bits,
      type: "float32",
      names: { codes: "w", scales: "scales" },
      output: "y",
    });
    g.output("y", "float32", [3, COLS]);
    const session = OrtModelSession.create(g.build());
    const input = Float32Array.from({ length: 3 * ROWS }, () => 2 * random() - 1);
    const output = new Float32Array(3 * COLS);
    const tensors = [
      session.hostTensor(input, "float32", [3, ROWS]),
      session.hostTensor(output, "float32", [3, COLS]),
    ];
    const binding = session.binding();
    binding.input("x", tensors[0]);
    binding.output("y", tensors[1]);
    await binding.run();
    const restored = dequantizeBlockwise(quantized, ROWS, COLS, bits);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < COLS; c++) {
        let expected = 0;
        for (let k = 0; k < ROWS; k++) expected += input[r * ROWS + k] * restored[k * COLS + c];
        assert.ok(Math.abs(output[r * COLS + c] - expected) < 1e-4, `y[${r}][${c}]`);
      }
    }
    binding.release();
    for (const tensor of tensors) tensor.release();
    session.release();
  });
}

Deno.test("a weight whose rows are not whole blocks is refused", () => {
  assert.throws(() => quantizeBlockwise(new Float32Array(40 * 2), 40, 2, 8), RangeError);
});
