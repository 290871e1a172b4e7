/**
 * Where a model step's time goes: runs a few batched steps of the reference model through the
 * worker's runner (cache resident in the provider's memory) with ONNX Runtime's profiler on,
 * then prints the costliest operators with the execution provider each ran on. For finding
 * CPU fallbacks and slow kernels on a GPU provider.
 *
 *   deno run -A bench/worker_profile.ts [--model=base] [--ep=webgpu] [--batch=1] [--steps=5]
 *     [--precision=float32|float16] [--attention=fused|operators]
 *
 * @module
 */
import { flag } from "./bench_support.ts";
import { type ExecutionProvider, InteractionModel } from "../gpu-worker/interaction_model.ts";
import {
  buildReferenceModel,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";
import { flowNoise } from "../gpu-worker/worker_runtime.ts";

const size = (flag("model") ?? "base") as ReferenceModelSizeName;
const ep = (flag("ep") ?? "cpu") as ExecutionProvider;
const batch = Number(flag("batch") ?? "1");
const steps = Number(flag("steps") ?? "5");
const precision = (flag("precision") ?? "float32") as "float32" | "float16";
const attention = (flag("attention") ?? "fused") as "fused" | "operators";

const built = buildReferenceModel(size, 1, { precision, attention });
const prefix = await Deno.makeTempFile({ prefix: "ort-profile-" });
const model = await InteractionModel.load(built.bytes, {
  name: built.name,
  executionProvider: ep,
  profilePrefix: prefix,
});
const cache = model.createCache(batch);
const slots = Array.from({ length: batch }, () => cache.acquire());
const turn = {
  dmel: new Uint8Array(1600),
  text: new Uint8Array(0),
  elapsedSeconds: 1,
  noise: flowNoise(1, 0),
};
const wall: number[] = [];
for (let i = 0; i < steps; i++) {
  const started = performance.now();
  await model.step(slots.map((slot) => ({ slot, turns: [turn] })), cache);
  wall.push(performance.now() - started);
}
cache.release();
await model.close(); // writes the profile
const dir = prefix.slice(0, prefix.lastIndexOf("/"));
const base = prefix.slice(prefix.lastIndexOf("/") + 1);
const file = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith(`${base}_`))!.name;
const events = JSON.parse(await Deno.readTextFile(`${dir}/${file}`)) as {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; provider?: string; shapes?: string };
}[];
/** Sums durations (µs) by key and prints the costliest, per step. */
function printTotals(title: string, entries: { key: string; us: number }[], rowsShown = 20) {
  const totals = new Map<string, { us: number; count: number }>();
  for (const { key, us } of entries) {
    const entry = totals.get(key) ?? { us: 0, count: 0 };
    entry.us += us;
    entry.count++;
    totals.set(key, entry);
  }
  const sum = entries.reduce((total, e) => total + e.us, 0);
  console.log(`${title}: ${(sum / 1000 / steps).toFixed(2)} ms/step in all`);
  const rows = [...totals].sort((a, b) => b[1].us - a[1].us).slice(0, rowsShown);
  for (const [key, { us, count }] of rows) {
    console.log(
      `${(us / 1000 / steps).toFixed(2).padStart(9)} ms/step  ${
        String(count / steps).padStart(4)
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
const gpu = events.filter((e) => e.cat === "Api" && e.args?.shapes !== undefined);
if (gpu.length > 0) {
  const program = (name: string) => name.split("&").at(-1)!.replace(/_\d+$/, "");
  printTotals("GPU time per program", gpu.map((e) => ({ key: program(e.name), us: e.dur })));
  printTotals(
    "GPU time per program and shapes",
    gpu.map((e) => ({ key: `${program(e.name)} ${e.args!.shapes}`, us: e.dur })),
    30,
  );
}
