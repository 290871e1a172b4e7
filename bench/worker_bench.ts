/**
 * GPU-worker benchmark: the worker runtime (continuous batching, KV cache slots, the reference
 * model through onnxruntime-node) for the `tiny` and ~100M `base` models.
 *
 * - Latency against concurrent sessions: N sessions each send one micro-turn every 200 ms (their
 *   phases spread over the period, as sessions that started at unrelated times are); latency is
 *   from a micro-turn's submission to its output (queue wait + step). Per N: p50, p99 and the
 *   deadline-miss rate (latency > 200 ms). `max_sessions_at_deadline`: the largest N whose p99
 *   holds the deadline.
 * - Step time against batch: B sessions stepped together in one model step (the anchor's
 *   measure, `bench/results/worker-gpu.json`'s `step_rows`); with `--anchor=FILE` (the JSON of
 *   `shared/device/torch_step_anchor.py`, run in the same lease) `step_over_anchor` at 64 and
 *   256 sessions. With static steps on (`--static-steps`, default `captured` on WebGPU, see
 *   gpu-worker/static_steps.ts), each row also times the same cache stepped with dynamic
 *   shapes, the two interleaved step by step: `static_over_dynamic` is their medians' ratio
 *   (`--compare-dynamic`: only at these batches).
 * - Flatness: a session with a long context (turn 1000, its window full and sliding) and a
 *   fresh one stepped alternately, one micro-turn each; median latency of the long over the
 *   short. Interleaving makes the ratio immune to a machine that speeds up or slows down.
 * - Floor: one step's time against its floor, (weights + one session's KV cache, read once)
 *   divided by memory bandwidth (measured here on CPU; `--bandwidth-gbps` for a GPU).
 *
 *   deno task bench:worker [--full] [--ep=cpu|webgpu] [--out=worker-cpu.json]
 *     [--models=tiny,base] [--bandwidth-gbps=N] [--precision=float32|float16] [--anchor=FILE]
 *     [--sessions=1,2,4] [--step-batches=1,64,256] [--attention=fused|operators]
 *     [--provider-options=storageBufferCacheMode=simple] [--weights=int8] [--flatness-turn=1000]
 *     [--static-steps=off|fixed|captured] [--compare-dynamic=1,64,256]
 *
 * The quick run (default) stays under a minute on this machine: fewer session counts and
 * shorter runs for `base`, whose flatness is then measured at turn 200 instead of 1000 (past
 * its 128-turn window, where the cost no longer changes); `--full` runs everything.
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { Registry } from "prom-client";
import {
  type ExecutionProvider,
  InteractionModel,
  type StaticStepMode,
} from "../gpu-worker/interaction_model.ts";
import {
  buildReferenceModel,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";
import { WorkerRuntime } from "../gpu-worker/worker_runtime.ts";
import { flowNoise } from "../gpu-worker/flow_noise.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";
import { MICRO_TURN_MS } from "../protocol/media_format.ts";

const full = Deno.args.includes("--full");
const ep = (flag("ep") ?? "cpu") as ExecutionProvider;
const out = flag("out") ?? `worker-${ep === "cpu" ? "cpu" : "gpu"}.json`;
const models = (flag("models") ?? "tiny,base").split(",") as ReferenceModelSizeName[];
const precision = (flag("precision") ?? "float32") as "float32" | "float16";
const anchorFile = flag("anchor");
const attention = (flag("attention") ?? "fused") as "fused" | "operators";
const weightBits = flag("weights") === "int8" ? 8 : undefined;
const staticSteps = flag("static-steps") as StaticStepMode | undefined;
/** `--library=PATH`: the ONNX Runtime library (CUDA: one with its CUDA provider beside it). */
const libraryPath = flag("library");
const listFlag = (name: string) => flag(name)?.split(",").map(Number);
const compareDynamic = listFlag("compare-dynamic");
/** `--provider-options=key=value,key=value`: the execution provider's options (e.g. WebGPU's). */
const providerOptions = Object.fromEntries(
  (flag("provider-options") ?? "").split(",").filter(Boolean).map((pair) => pair.split("=")),
);
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

/** The runtime's steps so far: how many, their seconds, micro-turns and static phases, summed. */
async function stepTotals(registry: Registry) {
  const values = async (name: string) =>
    ((await registry.getSingleMetric(name)!.get()) as {
      values: { value: number; metricName?: string; labels: Record<string, string> }[];
    }).values;
  const sum = (all: Awaited<ReturnType<typeof values>>, metric: string) =>
    all.find((v) => v.metricName === metric)?.value ?? 0;
  const stepSeconds = await values("worker_step_seconds");
  const phases = await values("worker_static_step_phase_seconds");
  return {
    at: performance.now(),
    steps: sum(stepSeconds, "worker_step_seconds_count"),
    seconds: sum(stepSeconds, "worker_step_seconds_sum"),
    microTurns: sum(await values("worker_step_batch_size"), "worker_step_batch_size_sum"),
    phaseSeconds: Object.fromEntries(
      phases.filter((v) => v.metricName?.endsWith("_sum")).map((v) => [v.labels.phase, v.value]),
    ),
    staticSteps: phases.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0,
  };
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

/**
 * Flatness: one session brought to `longTurn` micro-turns of context, then it and a fresh
 * session stepped alternately `samples` times each; latencies of each.
 */
async function interleaved(runtime: WorkerRuntime, longTurn: number, samples: number) {
  const long = sessionId(999_998);
  const short = sessionId(999_997);
  runtime.open(long, 0);
  for (let k = 0; k < longTurn; k++) await runtime.run(turn(long, k));
  runtime.open(short, 0);
  const times = { long: [] as number[], short: [] as number[] };
  const timed = async (id: string, index: number, into: number[]) => {
    const started = performance.now();
    await runtime.run(turn(id, index));
    into.push(performance.now() - started);
  };
  for (let k = 0; k < samples; k++) {
    await timed(long, longTurn + k, times.long);
    await timed(short, k, times.short);
  }
  runtime.close(long);
  runtime.close(short);
  return times;
}

/**
 * Step time with `batch` sessions in every step (the anchor's measure): median of `steps`;
 * with `dynamic` (the same model, static steps off), each step is followed by one of it on the
 * same cache, its median the second figure.
 */
async function batchStep(
  model: InteractionModel,
  dynamic: InteractionModel | undefined,
  batch: number,
  steps: number,
) {
  const cache = model.createCache(batch, { staticBuckets: [batch] });
  const slots = Array.from({ length: batch }, () => cache.acquire());
  const input = turn("", 0);
  const turns = [{
    dmel: input.dmel,
    text: new Uint8Array(0),
    elapsedSeconds: 1,
    noise: flowNoise(1, 0), // a row of the bank, as the worker's: static steps take it
  }];
  const times: number[] = [];
  const dynamicTimes: number[] = [];
  const timed = async (by: InteractionModel, into: number[], warm: boolean) => {
    const started = performance.now();
    await by.step(slots.map((slot) => ({ slot, turns })), cache);
    if (!warm) into.push(performance.now() - started);
  };
  try {
    await model.cacheReady(cache);
    const staticBefore = model.stepCounts.static;
    for (let i = 0; i < steps + 3; i++) {
      await timed(model, times, i < 3);
      if (dynamic) await timed(dynamic, dynamicTimes, i < 3);
    }
    // The figure is the static path's only if every step took it.
    if (model.staticSteps !== "off" && model.stepCounts.static - staticBefore !== steps + 3) {
      throw new Error(`a ${batch}-session step fell back to dynamic shapes`);
    }
  } finally {
    cache.release();
  }
  return { static: median(times), dynamic: dynamic ? median(dynamicTimes) : undefined };
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
  const built = buildReferenceModel(size, 1, { precision, attention, weightBits });
  const load = (steps?: StaticStepMode) =>
    InteractionModel.load(built.bytes, {
      name: built.name,
      executionProvider: ep,
      providerOptions,
      libraryPath,
      staticSteps: steps,
    });
  const model = await load(staticSteps);
  // The same model with dynamic shapes, stepping the same caches (one device, shared memory).
  const dynamic = model.staticSteps === "off" ? undefined : await load("off");
  const quickBase = size === "base" && !full && ep === "cpu";
  const counts = listFlag("sessions") ??
    (size === "tiny"
      ? (full ? [1, 2, 4, 8, 16, 32, 64, 128] : [1, 4, 16, 32, 64])
      : quickBase
      ? [1, 2, 4, 8]
      : [1, 2, 4, 8, 16, 32, 64]);
  const stepBatches = listFlag("step-batches") ?? (quickBase ? [1, 4] : [1, 4, 16, 64]);
  const stepRows: {
    sessions: number;
    step_p50_ms: number;
    dynamic_step_p50_ms?: number;
    static_over_dynamic?: number;
  }[] = [];
  for (const batch of stepBatches) {
    const compared = compareDynamic?.includes(batch) ?? true;
    const times = await batchStep(model, compared ? dynamic : undefined, batch, 10);
    const row = {
      sessions: batch,
      step_p50_ms: round(times.static, 3),
      ...(times.dynamic === undefined ? {} : {
        dynamic_step_p50_ms: round(times.dynamic, 3),
        static_over_dynamic: round(times.static / times.dynamic, 3),
      }),
    };
    stepRows.push(row);
    console.log(size, ep, "step", JSON.stringify(row));
  }
  const seconds = quickBase ? 3 : full ? 10 : 4;
  const capacity = Math.max(...counts) + 1;
  const registry = new Registry();
  const runtime = new WorkerRuntime(model, { registry, capacity });
  await runtime.ready;
  await sequential(runtime, 3); // warm-up
  const geometry = model.geometry;
  const rows = [];
  for (const n of counts) {
    const before = await stepTotals(registry);
    const latencies = await concurrent(runtime, n, seconds);
    const after = await stepTotals(registry);
    const steps = after.steps - before.steps;
    const row = {
      sessions: n,
      p50_ms: round(quantile(latencies, 0.5)),
      p99_ms: round(quantile(latencies, 0.99)),
      deadline_miss_rate: round(
        latencies.filter((l) => l > DEADLINE_MS).length / latencies.length,
        4,
      ),
      // The steps under this load: how many, their mean time and micro-turns, the slowest, the
      // share of the row's time a step ran, and the static steps' phases (mean ms).
      steps,
      step_mean_ms: round((after.seconds - before.seconds) * 1000 / steps),
      step_recent_p99_ms: round(runtime.recentStepP99Ms),
      batch_mean: round((after.microTurns - before.microTurns) / steps, 1),
      busy_share: round((after.seconds - before.seconds) * 1000 / (after.at - before.at), 3),
      static_phase_mean_ms: Object.fromEntries(
        Object.entries(after.phaseSeconds).map(([phase, seconds]) => [
          phase,
          round(
            (seconds - (before.phaseSeconds[phase] ?? 0)) * 1000 /
              Math.max(1, after.staticSteps - before.staticSteps),
          ),
        ]),
      ),
    };
    rows.push(row);
    console.log(size, ep, JSON.stringify(row));
    if (row.p99_ms > 4 * DEADLINE_MS) break; // far past the deadline: larger N only get worse
  }
  const tailTurn = Number(flag("flatness-turn") ?? (quickBase ? 200 : 1000));
  const flat = await interleaved(runtime, tailTurn, quickBase ? 15 : 30);
  const head = median(flat.short);
  const tail = median(flat.long);
  const kvBytes = runtime.cacheBytes / capacity;
  const floorMs = ((built.parameters * (precision === "float16" ? 2 : 4) + kvBytes) /
    (bandwidthGbps * 1e9)) * 1000;
  // The anchor script prints one JSON object per line, or writes them as one array to a file.
  type AnchorRow = { sessions: number; graphs: boolean; p50_ms: number };
  const anchorText = anchorFile ? (await Deno.readTextFile(anchorFile)).trim() : "";
  const anchorRows: AnchorRow[] = anchorText.startsWith("[")
    ? JSON.parse(anchorText)
    : anchorText.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  const anchor = anchorRows.filter((r) => r.graphs);
  const overAnchor = (n: number) => {
    const ours = stepRows.find((r) => r.sessions === n)?.step_p50_ms;
    const theirs = anchor.find((r) => r.sessions === n)?.p50_ms;
    return ours && theirs ? round(ours / theirs, 2) : null;
  };
  runtime.release();
  const result = {
    device: ep === "cpu"
      ? `${Deno.build.os}-${Deno.build.arch} CPU, ${navigator.hardwareConcurrency} cores`
      : flag("device") ?? ep,
    execution_provider: ep,
    static_steps: model.staticSteps,
    model: built.name,
    precision,
    params: built.parameters,
    window_positions: geometry.window,
    cache_positions: geometry.cacheLength,
    cache_mib_per_session: round(kvBytes / 2 ** 20, 1),
    rows,
    max_sessions_at_deadline: Math.max(
      0,
      ...rows.filter((r) => r.p99_ms <= DEADLINE_MS).map((r) => r.sessions),
    ),
    step_rows: stepRows,
    ...(anchor.length
      ? {
        anchor: anchor.map((r) => ({ sessions: r.sessions, p50_ms: r.p50_ms })),
        step_over_anchor: { 64: overAnchor(64), 256: overAnchor(256) },
      }
      : {}),
    flatness_tail_over_head: round(tail / head, 3),
    flatness_turns: [0, tailTurn],
    flatness_head_ms: round(head),
    flatness_tail_ms: round(tail),
    floor_ratio: round(tail / floorMs, 2),
    floor_ms: round(floorMs, 3),
    memory_bandwidth_gbps: round(bandwidthGbps, 1),
  };
  console.log(JSON.stringify({ ...result, rows: undefined }));
  results.push(result);
  await model.close();
  await dynamic?.close();
}

// The ~100M model is the headline; every model's numbers are under `models`.
const headline = results.find((r) => r.model.startsWith("reference-base")) ?? results[0];
await writeResult(out, { ...headline, models: results });
console.log(`wrote ${out}`);
