/**
 * Which kernel a provider runs for the `base` model's projections, and how fast: one
 * `[sessions x 10, K] @ [K, N]` product per run (the shapes of the QKV, output and
 * feed-forward projections), activations float16 and resident on the device, the weight as
 * - `fp16`: a float16 initializer through ONNX's `MatMul` (what the reference model does);
 * - `int8`, `int4`: block-quantized (32 rows a block, one scale each) through ONNX Runtime's
 *   `MatMulNBits` (accuracy level 0: float16 arithmetic on dequantized weights);
 * - `int8_acc4`, `int4_acc4`: the same at accuracy level 4 (activations quantized to int8 too,
 *   integer dot products).
 * Forms take turns run by run. Prints one JSON line per shape, session count and form: the
 * median wall time of 10 runs (ms), its TFLOP/s, and, with the profiler on, the GPU programs
 * the provider dispatched and their median GPU time per run.
 *
 *   deno run -A bench/matmul_probe.ts --ep=webgpu [--sessions=64,256,512] [--device=NAME]
 *
 * Writes `bench/results/matmul-probe-<ep>.json`.
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { gpuDispatches, readOrtProfile } from "./ort_profile.ts";
import { OnnxGraphBuilder } from "../gpu-worker/model/onnx_graph_builder.ts";
import { type ExecutionProvider, OrtModelSession } from "../gpu-worker/ort/ort_session.ts";
import {
  blockQuantizedMatMul,
  type QuantizationBits,
} from "../gpu-worker/model/block_quantization.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const counts = (flag("sessions") ?? "64,256,512").split(",").map(Number);
const QUERIES = 10;
const SHAPES = [
  { name: "qkv", k: 768, n: 2304 },
  { name: "out", k: 768, n: 768 },
  { name: "ff_in", k: 768, n: 3072 },
  { name: "ff_out", k: 3072, n: 768 },
] as const;
const FORMS = ["fp16", "int8", "int8_acc4", "int4", "int4_acc4"] as const;
type Form = typeof FORMS[number];

/** One form's graph: output = input @ W for a seeded K x N weight. */
function graph(form: Form, k: number, n: number): Uint8Array {
  const g = new OnnxGraphBuilder(`matmul_probe_${form}`);
  const random = seededRandom(k * 7919 + n);
  const weights = new Float32Array(k * n).map(() => (2 * random() - 1) * Math.sqrt(3 / k));
  const input = g.input("input", "float16", ["rows", k]);
  if (form === "fp16") {
    g.node("MatMul", [input, g.weight("w", weights, [k, n], "float16")], {}, ["output"]);
  } else {
    const bits: QuantizationBits = form.startsWith("int8") ? 8 : 4;
    blockQuantizedMatMul(g, input, weights, k, n, {
      bits,
      type: "float16",
      names: { codes: "w", scales: "scales" },
      accuracyLevel: form.endsWith("acc4") ? 4 : 0,
      output: "output",
    });
  }
  g.output("output", "float16", ["rows", n]);
  return g.build();
}

const median = (values: number[]) => quantile(values, 0.5);

interface Row {
  shape: string;
  form: Form;
  sessions: number;
  ms: number;
  tflops: number;
  gpu_programs?: Record<string, number>;
}
const rows: Row[] = [];
for (const { name, k, n } of SHAPES) {
  const prefixes = FORMS.map(() => Deno.makeTempFileSync({ prefix: `matmul-${name}-` }));
  const sessions = FORMS.map((form, f) =>
    OrtModelSession.create(graph(form, k, n), {
      executionProvider: ep,
      profilePrefix: prefixes[f],
    })
  );
  for (const batch of counts) {
    const m = batch * QUERIES;
    const bound = sessions.map((session) => {
      const input = session.hostTensor(
        new Float16Array(m * k).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5),
        "float16",
        [m, k],
      );
      const output = session.deviceTensor("float16", [m, n]);
      const binding = session.binding();
      binding.input("input", input);
      binding.output("output", output);
      return { binding, input, output };
    });
    const times: number[][] = FORMS.map(() => []);
    for (let i = 0; i < 13; i++) {
      for (const [f, { binding }] of bound.entries()) {
        const t0 = performance.now();
        await binding.run();
        if (i >= 3) times[f].push(performance.now() - t0);
      }
    }
    FORMS.forEach((form, f) => {
      const ms = median(times[f]);
      const row: Row = {
        shape: `${name} ${m}x${k}x${n}`,
        form,
        sessions: batch,
        ms: Number(ms.toFixed(3)),
        tflops: Number((2 * m * k * n / (ms / 1000) / 1e12).toFixed(2)),
      };
      rows.push(row);
    });
    for (const { binding, input, output } of bound) {
      binding.release();
      input.release();
      output.release();
    }
  }
  for (const session of sessions) session.release(); // writes the profiles
  // GPU time per program from the profiles, matched to rows by the run's input shape
  // (the provider prints shapes in vector components, so by the row count alone).
  FORMS.forEach((form, f) => {
    const dispatches = gpuDispatches(readOrtProfile(prefixes[f]));
    for (const batch of counts) {
      const mine = dispatches.filter((d) => d.shapes.includes(`{${batch * QUERIES},`));
      const byProgram = new Map<string, number[]>();
      for (const d of mine) byProgram.set(d.program, [...(byProgram.get(d.program) ?? []), d.ms]);
      const row = rows.find((r) =>
        r.form === form && r.sessions === batch && r.shape.startsWith(`${name} `)
      )!;
      row.gpu_programs = Object.fromEntries(
        [...byProgram].map(([program, ms]) => [program, Number(median(ms).toFixed(3))]),
      );
    }
  });
  for (const row of rows.filter((r) => r.shape.startsWith(`${name} `))) {
    console.log(JSON.stringify(row));
  }
}
await writeResult(`matmul-probe-${ep}.json`, { device: flag("device") ?? ep, rows });
