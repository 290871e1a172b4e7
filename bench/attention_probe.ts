/**
 * What attention over resident rings costs on a provider, by form: the `base` model's attention
 * geometry (12 heads x 64, rings of 1440 positions, 10 new positions per session, float16) alone,
 * one layer, every input already in device memory:
 * - `keys_by_queries`: keys x queries over rings stored a position per row ([s, H, L, dh], the
 *   `interaction-v3` layout), the score matrix transposed, bias, softmax, x values;
 * - `queries_by_keys`: queries x keys over key rings stored a feature per row ([s, H, dh, L]),
 *   which gives the scores in softmax order with no transpose;
 * - `einsum`: the scores as one `Einsum` over the row layout;
 * - `mha`: ONNX Runtime's fused `MultiHeadAttention` with the bias, rings read as BNSH.
 * The forms take turns run by run. Prints one JSON line per form and session count: the median
 * wall time of 10 runs and, where the provider reports GPU timestamps (WebGPU), the GPU time per
 * run and its costliest programs.
 *
 *   deno run -A bench/attention_probe.ts --ep=webgpu [--sessions=64,256,512] [--device=NAME]
 *
 * Writes `bench/results/attention-probe-<ep>.json`.
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { gpuDispatches, readOrtProfile } from "./ort_profile.ts";
import { MICROSOFT_DOMAIN, OnnxGraphBuilder } from "../gpu-worker/model/onnx_graph_builder.ts";
import { type ExecutionProvider, OrtModelSession } from "../gpu-worker/ort/ort_session.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const counts = (flag("sessions") ?? "64,256,512").split(",").map(Number);
const HEADS = 12;
const HEAD_SIZE = 64;
const RING = 1440;
const QUERIES = 10;
const WIDTH = HEADS * HEAD_SIZE;
const RUNS = 13;
const WARMUP = 3;
const FORMS = ["keys_by_queries", "queries_by_keys", "einsum", "mha"] as const;
type Form = typeof FORMS[number];

/** One form's graph: keys and values [rows, ...], query [s, 10, 768], bias [s, 1, 10, L]. */
function graph(form: Form): Uint8Array {
  const g = new OnnxGraphBuilder(`attention_probe_${form}`);
  const transposedKeys = form === "queries_by_keys";
  const keys = g.input("keys", "float16", transposedKeys ? ["rows", RING] : ["rows", HEAD_SIZE]);
  const values = g.input("values", "float16", ["rows", HEAD_SIZE]);
  const bnsh = g.ints("bnsh", [-1, HEADS, RING, HEAD_SIZE]);
  const k = g.op("Reshape", [
    keys,
    transposedKeys ? g.ints("bnhs", [-1, HEADS, HEAD_SIZE, RING]) : bnsh,
  ]);
  const v = g.op("Reshape", [values, bnsh]);
  const query = g.input("query", "float16", ["batch", QUERIES, WIDTH]);
  const bias = g.input("bias", "float16", ["batch", 1, QUERIES, RING]);
  let out: string;
  if (form === "mha") {
    [out] = g.node(
      "MultiHeadAttention",
      [query, k, v, "", "", bias],
      { num_heads: HEADS },
      1,
      MICROSOFT_DOMAIN,
    );
  } else {
    const heads = g.op("Reshape", [query, g.ints("bsnh", [0, 0, HEADS, HEAD_SIZE])]);
    const scale = g.floats("scale", [1 / Math.sqrt(HEAD_SIZE)], [], "float16");
    let scores: string; // [s, H, 10, L]
    if (form === "keys_by_queries") {
      const scaled = g.op("Mul", [g.op("Transpose", [heads], { perm: [0, 2, 3, 1] }), scale]);
      scores = g.op("Transpose", [g.op("MatMul", [k, scaled])], { perm: [0, 1, 3, 2] });
    } else {
      const scaled = g.op("Mul", [g.op("Transpose", [heads], { perm: [0, 2, 1, 3] }), scale]);
      scores = form === "queries_by_keys"
        ? g.op("MatMul", [scaled, k])
        : g.op("Einsum", [scaled, k], { equation: "bhsd,bhld->bhsl" });
    }
    const weights = g.op("Softmax", [g.op("Add", [scores, bias])], { axis: -1 });
    out = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [weights, v])], { perm: [0, 2, 1, 3] }),
      g.ints("bsd", [0, 0, WIDTH]),
    ]);
  }
  g.node("Identity", [out], {}, ["output"]);
  g.output("output", "float16", ["batch", QUERIES, WIDTH]);
  return g.build();
}

const median = (values: number[]) => quantile(values, 0.5);

interface Row {
  form: Form;
  sessions: number;
  wall_ms: number;
  gpu_ms?: number;
  ring_gbps?: number;
  gpu_programs?: Record<string, number>;
}
const results: Row[] = [];
for (const batch of counts) {
  const rows = batch * HEADS * RING;
  const ringBytes = 2 * rows * HEAD_SIZE * 2;
  const prepared = FORMS.map((form) => {
    const prefix = Deno.makeTempFileSync({ prefix: `attention-${form}-${batch}-` });
    const session = OrtModelSession.create(graph(form), {
      executionProvider: ep,
      profilePrefix: prefix,
    });
    const tensors = [
      form === "queries_by_keys"
        ? session.deviceTensor("float16", [batch * HEADS * HEAD_SIZE, RING])
        : session.deviceTensor("float16", [rows, HEAD_SIZE]),
      session.deviceTensor("float16", [rows, HEAD_SIZE]),
      session.deviceTensor("float16", [batch, QUERIES, WIDTH]),
      session.deviceTensor("float16", [batch, 1, QUERIES, RING]),
      session.deviceTensor("float16", [batch, QUERIES, WIDTH]),
    ];
    const binding = session.binding();
    ["keys", "values", "query", "bias"].forEach((name, i) => binding.input(name, tensors[i]));
    binding.output("output", tensors[4]);
    return { form, prefix, session, tensors, binding };
  });
  // The forms take turns run by run, so a machine that speeds up or slows down meets them all.
  const times: number[][] = FORMS.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [f, { binding }] of prepared.entries()) {
      const started = performance.now();
      await binding.run();
      if (i >= WARMUP) times[f].push(performance.now() - started);
    }
  }
  for (const [f, { form, prefix, session, tensors, binding }] of prepared.entries()) {
    binding.release();
    for (const tensor of tensors) tensor.release();
    session.release(); // writes the profile
    const row: Row = { form, sessions: batch, wall_ms: Number(median(times[f]).toFixed(3)) };
    const dispatches = gpuDispatches(readOrtProfile(prefix));
    if (dispatches.length > 0) {
      const gpuMs = dispatches.reduce((sum, d) => sum + d.ms, 0) / RUNS;
      const byProgram = new Map<string, number>();
      for (const d of dispatches) byProgram.set(d.program, (byProgram.get(d.program) ?? 0) + d.ms);
      row.gpu_ms = Number(gpuMs.toFixed(3));
      row.ring_gbps = Number((ringBytes / (gpuMs / 1000) / 1e9).toFixed(1));
      row.gpu_programs = Object.fromEntries(
        [...byProgram].sort((a, b) => b[1] - a[1]).slice(0, 6)
          .map(([program, ms]) => [program, Number((ms / RUNS).toFixed(3))]),
      );
    }
    console.log(JSON.stringify(row));
    results.push(row);
  }
}
await writeResult(`attention-probe-${ep}.json`, { device: flag("device") ?? ep, rows: results });
