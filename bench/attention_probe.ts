/**
 * Where attention over resident rings gets slow on a provider: the `base` model's attention
 * geometry (12 heads x 64, rings of 1440 positions, 10 new positions per session, float16)
 * alone, for growing session counts, in four forms over the same device tensors:
 * - `mha`: ONNX Runtime's `MultiHeadAttention` with a bias, keys/values read as BNSH (what
 *   the reference model does);
 * - `mha_no_bias`: the same without the bias;
 * - `matmul`: attention from plain operators (keys x queries, bias, softmax, x values), which
 *   reads the rings in their stored layout through the provider's MatMul kernel;
 * - `read`: a reduction over the keys: what merely reading the rings costs (the bandwidth floor
 *   the provider reaches on buffers of that size).
 * The forms take turns run by run. Prints one JSON line per form and session count (median of 10
 * runs, milliseconds, and the rings' bytes over that time in GB/s).
 *
 *   deno run -A bench/attention_probe.ts --ep=webgpu [--sessions=16,64,128,256] [--device=NAME]
 *
 * Writes `bench/results/attention-probe-<ep>.json`.
 *
 * @module
 */
import { flag, writeResult } from "./bench_support.ts";
import { MICROSOFT_DOMAIN, OnnxGraphBuilder } from "../gpu-worker/model/onnx_graph_builder.ts";
import { type ExecutionProvider, OrtModelSession } from "../gpu-worker/ort/ort_session.ts";
import { tensorBytes } from "../gpu-worker/ort/ort_api.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const counts = (flag("sessions") ?? "16,32,64,96,128,192,256").split(",").map(Number);
const HEADS = 12;
const HEAD_SIZE = 64;
const RING = 1440;
const QUERIES = 10;
const WIDTH = HEADS * HEAD_SIZE;
const FORMS = ["mha", "mha_no_bias", "matmul", "read"] as const;
type Form = typeof FORMS[number];

/** One form's graph over keys/values as rings ([B x 12 x 1440, 64]), query [B, 10, 768], bias [B, 1, 10, L]. */
function graph(form: Form): Uint8Array {
  const g = new OnnxGraphBuilder(`attention_probe_${form}`);
  const keys = g.input("keys", "float16", ["rows", HEAD_SIZE]);
  const values = g.input("values", "float16", ["rows", HEAD_SIZE]);
  const shape = g.ints("bnsh", [-1, HEADS, RING, HEAD_SIZE]);
  const k = g.op("Reshape", [keys, shape]);
  const v = g.op("Reshape", [values, shape]);
  const query = g.input("query", "float16", ["batch", QUERIES, WIDTH]);
  const bias = form === "mha_no_bias"
    ? ""
    : g.input("bias", "float16", ["batch", 1, QUERIES, RING]);
  let out: string;
  if (form === "read") {
    const sum = (t: string) => g.op("ReduceSum", [t, g.ints(`axis_${t}`, [2])], { keepdims: 0 });
    g.node("Add", [sum(k), sum(v)], {}, ["output"]);
    g.output("output", "float16", ["batch", HEADS, HEAD_SIZE]);
    return g.build();
  }
  if (form === "matmul") {
    const heads = g.op("Transpose", [
      g.op("Reshape", [query, g.ints("bsnh", [0, 0, HEADS, HEAD_SIZE])]),
    ], { perm: [0, 2, 3, 1] }); // [B, N, H, S]
    const scaled = g.op("Mul", [
      heads,
      g.floats("scale", [1 / Math.sqrt(HEAD_SIZE)], [], "float16"),
    ]);
    const scores = g.op("Transpose", [g.op("MatMul", [k, scaled])], { perm: [0, 1, 3, 2] }); // [B, N, S, L]
    const weights = g.op("Softmax", [g.op("Add", [scores, bias])], { axis: -1 });
    const attended = g.op("MatMul", [weights, v]); // [B, N, S, H]
    out = g.op("Reshape", [
      g.op("Transpose", [attended], { perm: [0, 2, 1, 3] }),
      g.ints("bsd", [0, 0, WIDTH]),
    ]);
  } else {
    [out] = g.node(
      "MultiHeadAttention",
      [query, k, v, "", "", bias],
      { num_heads: HEADS },
      1,
      MICROSOFT_DOMAIN,
    );
  }
  g.node("Identity", [out], {}, ["output"]);
  g.output("output", "float16", ["batch", QUERIES, WIDTH]);
  return g.build();
}

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];

/** One form bound to its own rings of `batch` sessions, ready to run. */
function prepare(session: OrtModelSession, form: Form, batch: number) {
  const rows = batch * HEADS * RING;
  const keys = session.deviceTensor("float16", [rows, HEAD_SIZE]);
  const values = session.deviceTensor("float16", [rows, HEAD_SIZE]);
  const query = session.hostTensor(
    new Float16Array(batch * QUERIES * WIDTH).fill(0.01),
    "float16",
    [batch, QUERIES, WIDTH],
  );
  const bias = session.hostTensor(new Float16Array(batch * QUERIES * RING), "float16", [
    batch,
    1,
    QUERIES,
    RING,
  ]);
  const outputDims = form === "read" ? [batch, HEADS, HEAD_SIZE] : [batch, QUERIES, WIDTH];
  const output = session.hostTensor(
    new Float16Array(outputDims.reduce((a, b) => a * b)),
    "float16",
    outputDims,
  );
  const binding = session.binding();
  if (form !== "read") binding.input("query", query);
  if (form === "mha" || form === "matmul") binding.input("bias", bias);
  binding.input("keys", keys);
  binding.input("values", values);
  binding.output("output", output);
  return {
    binding,
    ringBytes: 2 * tensorBytes("float16", [rows, HEAD_SIZE]),
    release() {
      binding.release();
      for (const tensor of [keys, values, query, bias, output]) tensor.release();
    },
  };
}

const sessions = FORMS.map((form) =>
  OrtModelSession.create(graph(form), { executionProvider: ep })
);
const results: { form: Form; sessions: number; ms: number; ring_mib: number; gbps: number }[] = [];
for (const batch of counts) {
  const prepared = FORMS.map((form, f) => prepare(sessions[f], form, batch));
  // The forms take turns run by run, so a machine that speeds up or slows down meets them all.
  const times: number[][] = FORMS.map(() => []);
  for (let i = 0; i < 13; i++) {
    for (const [f, { binding }] of prepared.entries()) {
      const started = performance.now();
      await binding.run();
      if (i >= 3) times[f].push(performance.now() - started);
    }
  }
  FORMS.forEach((form, f) => {
    const ms = median(times[f]);
    const { ringBytes } = prepared[f];
    const row = {
      form,
      sessions: batch,
      ms: Number(ms.toFixed(3)),
      ring_mib: Math.round(ringBytes / 2 ** 20),
      gbps: Number((ringBytes / (ms / 1000) / 1e9).toFixed(1)),
    };
    console.log(JSON.stringify(row));
    results.push(row);
  });
  for (const p of prepared) p.release();
}
for (const session of sessions) session.release();
await writeResult(`attention-probe-${ep}.json`, { device: flag("device") ?? ep, rows: results });
