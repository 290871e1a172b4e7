/**
 * Where a model step's time goes: runs a few batched steps of the reference model through the
 * worker's runner (cache resident in the provider's memory) with ONNX Runtime's profiler on,
 * then prints the costliest operators with the execution provider each ran on. For finding
 * CPU fallbacks and slow kernels on a GPU provider.
 *
 *   deno run -A bench/worker_profile.ts [--model=base] [--ep=webgpu] [--batch=1] [--steps=5]
 *     [--precision=float32|float16] [--attention=fused|operators] [--weights=int8]
 *
 * @module
 */
import { flag } from "./bench_support.ts";
import { gpuDispatches, profiledBatch, readOrtProfile } from "./ort_profile.ts";
import type { ExecutionProvider } from "../gpu-worker/interaction_model.ts";
import {
  buildReferenceModel,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";

const size = (flag("model") ?? "base") as ReferenceModelSizeName;
const ep = (flag("ep") ?? "cpu") as ExecutionProvider;
const batch = Number(flag("batch") ?? "1");
const steps = Math.max(2, Number(flag("steps") ?? "5"));
const precision = (flag("precision") ?? "float32") as "float32" | "float16";
const attention = (flag("attention") ?? "fused") as "fused" | "operators";

const weightBits = flag("weights") === "int8" ? 8 : undefined;
const built = buildReferenceModel(size, 1, { precision, attention, weightBits });
const profiled = await profiledBatch(built, ep, batch);
const wall: number[] = [];
for (let i = 0; i < steps; i++) {
  const started = performance.now();
  await profiled.step();
  wall.push(performance.now() - started);
}
await profiled.close(); // writes the profile
const events = readOrtProfile(profiled.prefix);
// The first step compiles the shaders and fills the buffer caches: only the others are counted.
const counted = steps - 1;
/** The entries of every step but the first (each step dispatches the same kernels, in order). */
const afterFirstStep = <T>(entries: T[]) => entries.slice(entries.length / steps);
/** Sums durations (µs) by key and prints the costliest, per counted step. */
function printTotals(title: string, all: { key: string; us: number }[], rowsShown = 20) {
  const entries = afterFirstStep(all);
  const totals = new Map<string, { us: number; count: number }>();
  for (const { key, us } of entries) {
    const entry = totals.get(key) ?? { us: 0, count: 0 };
    entry.us += us;
    entry.count++;
    totals.set(key, entry);
  }
  const sum = entries.reduce((total, e) => total + e.us, 0);
  console.log(`${title}: ${(sum / 1000 / counted).toFixed(2)} ms/step in all`);
  const rows = [...totals].sort((a, b) => b[1].us - a[1].us).slice(0, rowsShown);
  for (const [key, { us, count }] of rows) {
    console.log(
      `${(us / 1000 / counted).toFixed(2).padStart(9)} ms/step  ${
        String(count / counted).padStart(4)
      } kernels  ${key}`,
    );
  }
}
console.log(
  `${built.name} on ${ep}, batch ${batch}: step wall ms ${wall.map((w) => w.toFixed(1)).join(" ")}`,
);
// Node events: the host's time in each kernel (on a GPU provider, mostly recording the dispatch).
printTotals(
  "host time per operator",
  events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time")).map((e) => ({
    key: `${e.args?.op_name} @ ${e.args?.provider}`,
    us: e.dur,
  })),
);
// Api events: the WebGPU provider's GPU timestamps around each dispatched program.
const gpu = gpuDispatches(events);
if (gpu.length > 0) {
  printTotals("GPU time per program", gpu.map((d) => ({ key: d.program, us: d.ms * 1000 })));
  printTotals(
    "GPU time per program and shapes",
    gpu.map((d) => ({ key: `${d.program} ${d.shapes}`, us: d.ms * 1000 })),
    30,
  );
}
