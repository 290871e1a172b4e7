/**
 * What idleness between steps costs on a GPU provider: the worker's `base` model (as it builds it
 * for WebGPU) stepped back to back, then with 200 ms between steps (one micro-turn's pace), then
 * 50 ms, with ONNX Runtime's profiler on, so each step's GPU time (the provider's timestamps)
 * is known beside its wall time. A GPU that clocks down when idle runs the same kernels slower
 * after a pause. Prints one JSON line per pace (medians of 10 steps, after 5 warm-up steps).
 *
 *   deno run -A bench/idle_step_probe.ts --ep=webgpu [--sessions=1,64] [--device=NAME]
 *
 * Writes `bench/results/idle-step-<ep>.json`.
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { gpuDispatches, profiledBatch, readOrtProfile } from "./ort_profile.ts";
import type { ExecutionProvider } from "../gpu-worker/interaction_model.ts";
import { buildReferenceModel } from "../gpu-worker/model/reference_model.ts";
import { referenceOptionsFor } from "../gpu-worker/worker_server.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const counts = (flag("sessions") ?? "1,64").split(",").map(Number);
const built = buildReferenceModel("base", 1, referenceOptionsFor("webgpu"));
const PACES = [["back_to_back", 0], ["every_200_ms", 200], ["every_50_ms", 50]] as const;
const WARMUP = 5;
const STEPS = 10;
const median = (values: number[]) => quantile(values, 0.5);
const rows: { sessions: number; pace: string; wall_ms: number; gpu_ms: number }[] = [];
for (const batch of counts) {
  const profiled = await profiledBatch(built, ep, batch);
  const plan = [
    ...Array(WARMUP).fill(0),
    ...PACES.flatMap(([, gap]) => Array(STEPS).fill(gap)),
  ];
  const walls: number[] = [];
  for (const gap of plan) {
    if (gap) await new Promise((resolve) => setTimeout(resolve, gap));
    const started = performance.now();
    await profiled.step();
    walls.push(performance.now() - started);
  }
  await profiled.close(); // writes the profile
  // Every step dispatches the same programs, in order.
  const dispatches = gpuDispatches(readOrtProfile(profiled.prefix));
  const perStep = dispatches.length / plan.length;
  const gpu = plan.map((_, i) =>
    dispatches.slice(i * perStep, (i + 1) * perStep).reduce((sum, d) => sum + d.ms, 0)
  );
  PACES.forEach(([pace], p) => {
    const from = WARMUP + p * STEPS;
    const row = {
      sessions: batch,
      pace,
      wall_ms: Number(median(walls.slice(from, from + STEPS)).toFixed(1)),
      gpu_ms: Number(median(gpu.slice(from, from + STEPS)).toFixed(1)),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  });
}
await writeResult(`idle-step-${ep}.json`, {
  device: flag("device") ?? ep,
  note: "profiler on: wall times include its cost; GPU times are the provider's timestamps",
  rows,
});
