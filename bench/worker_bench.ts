/**
 * GPU-worker benchmark: the worker runtime (continuous batching, KV cache slots, the reference
 * model through onnxruntime-node) for the `tiny` and ~100M `base` models.
 *
 * - Latency against concurrent sessions: N sessions each send one micro-turn every 200 ms (their
 *   phases spread over the period, as sessions that started at unrelated times are); latency is
 *   from a micro-turn's submission to its output (queue wait + step). Per N: p50, p99 and the
 *   deadline-miss rate (latency > 200 ms). `max_sessions_at_deadline`: the largest N whose p99
 *   holds the deadline.
 * - Flatness: one session, micro-turn after micro-turn; median latency around turn 1000 over
 *   median latency around turn 10 (the context fills at the window, then slides).
 * - Floor: one step's time against its floor, (weights + one session's KV cache, read once)
 *   divided by memory bandwidth (measured here on CPU; `--bandwidth-gbps` for a GPU).
 *
 *   deno task bench:worker [--full] [--ep=cpu|webgpu] [--out=worker-cpu.json]
 *     [--models=tiny,base] [--bandwidth-gbps=N]
 *
 * The quick run (default) stays under a minute on this machine: fewer session counts and
 * shorter runs for `base`, whose flatness is then measured at turn 200 instead of 1000 (past
 * its 128-turn window, where the cost no longer changes); `--full` runs everything.
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { Registry } from "prom-client";
import { type ExecutionProvider, InteractionModel } from "../gpu-worker/interaction_model.ts";
import {
  buildReferenceModel,
  REFERENCE_MODEL_SIZES,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";
import { WorkerRuntime } from "../gpu-worker/worker_runtime.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";
import { MICRO_TURN_MS } from "../protocol/media_format.ts";

const full = Deno.args.includes("--full");
const ep = (flag("ep") ?? "cpu") as ExecutionProvider;
const out = flag("out") ?? `worker-${ep === "cpu" ? "cpu" : "gpu"}.json`;
const models = (flag("models") ?? "tiny,base").split(",") as ReferenceModelSizeName[];
const DEADLINE_MS = MICRO_TURN_MS;

const random = seededRandom(1);
const dmel = Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16));
const turn = (sessionId: string, index: number): MicroTurn => ({
  sessionId,
  index,
  wallClockMs: index * MICRO_TURN_MS,
  flags: 0,
  dmelFrames: 20,
  dmel,
  frameOrigins: new Uint8Array(10),
  lateMediaMs: [],
  text: "",
  patchCount: 0,
  patches: new Uint8Array(0),
});
const sessionId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const median = (values: number[]) => quantile(values, 0.5);
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** N sessions in real time for `seconds`; latencies after the first second. */
async function concurrent(runtime: WorkerRuntime, n: number, seconds: number) {
  const ids = Array.from({ length: n }, (_, i) => sessionId(i));
  for (const id of ids) runtime.open(id, 0);
  const latencies: number[] = [];
  const turns = Math.round((seconds * 1000) / MICRO_TURN_MS);
  const t0 = performance.now() + 20;
  const pending: Promise<void>[] = [];
  const next = new Array(n).fill(0);
  const dueAt = (s: number, k: number) => t0 + (s / n) * MICRO_TURN_MS + k * MICRO_TURN_MS;
  // A session sends its next micro-turn only after the previous one's output (as the edge's
  // one-at-a-time forwarding does not, but a lagging session cannot run ahead of its state).
  const busy = new Array(n).fill(false);
  while (next.some((k) => k < turns)) {
    const now = performance.now();
    for (let s = 0; s < n; s++) {
      if (busy[s] || next[s] >= turns || dueAt(s, next[s]) > now) continue;
      const k = next[s]++;
      busy[s] = true;
      const due = dueAt(s, k);
      pending.push(
        runtime.run(turn(ids[s], k)).then(() => {
          busy[s] = false;
          if (k >= 5) latencies.push(performance.now() - due);
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  for (const id of ids) runtime.close(id);
  return latencies.sort((a, b) => a - b);
}

/** One session, `turns` micro-turns back to back; latency of each. */
async function sequential(runtime: WorkerRuntime, turns: number): Promise<number[]> {
  const id = sessionId(999_999);
  runtime.open(id, 0);
  const latencies: number[] = [];
  for (let k = 0; k < turns; k++) {
    const started = performance.now();
    await runtime.run(turn(id, k));
    latencies.push(performance.now() - started);
  }
  runtime.close(id);
  return latencies;
}

/** Memory bandwidth of this machine's CPU: bytes read + written by a large copy, GB/s. */
function cpuBandwidthGbps(): number {
  const size = 64 * 2 ** 20;
  const a = new Float32Array(size);
  const b = new Float32Array(size);
  a.fill(1);
  b.set(a);
  const started = performance.now();
  for (let i = 0; i < 5; i++) b.set(a);
  const seconds = (performance.now() - started) / 1000;
  return (5 * 2 * size * 4) / seconds / 1e9;
}

const bandwidthGbps = Number(flag("bandwidth-gbps") ?? cpuBandwidthGbps());
const results = [];
for (const size of models) {
  const built = buildReferenceModel(size);
  const model = await InteractionModel.load(built.bytes, {
    name: built.name,
    executionProvider: ep,
  });
  const quickBase = size === "base" && !full && ep === "cpu";
  const counts = size === "tiny"
    ? (full ? [1, 2, 4, 8, 16, 32, 64, 128] : [1, 4, 16, 32, 64])
    : quickBase
    ? [1, 2, 4, 8]
    : [1, 2, 4, 8, 16, 32, 64];
  const seconds = quickBase ? 3 : full ? 10 : 4;
  const capacity = Math.max(...counts) + 1;
  const runtime = new WorkerRuntime(model, {
    registry: new Registry(),
    capacity,
    maxBatch: 64,
  });
  await sequential(runtime, 3); // warm-up
  const rows = [];
  for (const n of counts) {
    const latencies = await concurrent(runtime, n, seconds);
    const row = {
      sessions: n,
      p50_ms: round(quantile(latencies, 0.5)),
      p99_ms: round(quantile(latencies, 0.99)),
      deadline_miss_rate: round(
        latencies.filter((l) => l > DEADLINE_MS).length / latencies.length,
        4,
      ),
    };
    rows.push(row);
    console.log(size, ep, JSON.stringify(row));
    if (row.p99_ms > 4 * DEADLINE_MS) break; // far past the deadline: larger N only get worse
  }
  const tailTurn = quickBase ? 200 : 1000;
  const flat = await sequential(runtime, tailTurn + 10);
  const head = median(flat.slice(5, 15));
  const tail = median(flat.slice(tailTurn - 10, tailTurn + 10));
  const geometry = REFERENCE_MODEL_SIZES[size];
  const kvBytes = 2 * model.cacheFloats * 4;
  const floorMs = ((built.parameters * 4 + kvBytes) / (bandwidthGbps * 1e9)) * 1000;
  const result = {
    device: ep === "cpu"
      ? `${Deno.build.os}-${Deno.build.arch} CPU, ${navigator.hardwareConcurrency} cores`
      : flag("device") ?? ep,
    execution_provider: ep,
    model: built.name,
    params: built.parameters,
    window_positions: geometry.window,
    rows,
    max_sessions_at_deadline: Math.max(
      0,
      ...rows.filter((r) => r.p99_ms <= DEADLINE_MS).map((r) => r.sessions),
    ),
    flatness_tail_over_head: round(tail / head, 3),
    flatness_turns: [10, tailTurn],
    flatness_head_ms: round(head),
    flatness_tail_ms: round(tail),
    floor_ratio: round(median(flat.slice(tailTurn - 10, tailTurn + 10)) / floorMs, 2),
    floor_ms: round(floorMs, 3),
    memory_bandwidth_gbps: round(bandwidthGbps, 1),
  };
  console.log(JSON.stringify({ ...result, rows: undefined }));
  results.push(result);
  await model.close();
}

// The ~100M model is the headline; every model's numbers are under `models`.
const headline = results.find((r) => r.model.startsWith("reference-base")) ?? results[0];
await writeResult(out, { ...headline, models: results });
console.log(`wrote ${out}`);
