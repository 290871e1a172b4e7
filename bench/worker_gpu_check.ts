/**
 * The worker's numerical guarantees on a GPU provider (run on the device, not in CI): the same
 * micro-turns through the runner on `--ep` and on the CPU, streamed with sessions sitting out
 * some steps; float16 on the GPU (and float16 with 8-bit projection weights) against float32 on
 * the CPU; the captured static steps (the GPU's default, gpu-worker/static_steps.ts) against
 * dynamic shapes on the same GPU; sessions moved to other slots mid-stream (slot compaction,
 * gpu-worker/slot_compaction.ts) against the same sessions unmoved, and the time a move takes;
 * the provider's memory across 1000 session open/close cycles (nvidia-smi's reading, where
 * there is one). Prints one JSON line.
 *
 *   deno run -A bench/worker_gpu_check.ts --ep=webgpu [--attention=fused|operators]
 *
 * @module
 */
import { flag } from "./bench_support.ts";
import {
  type ExecutionProvider,
  InteractionModel,
  type StaticStepMode,
} from "../gpu-worker/interaction_model.ts";
import type { TurnOutput } from "../gpu-worker/interaction_model.ts";
import {
  buildReferenceModel,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";
import { flowNoise } from "../gpu-worker/flow_noise.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const attention = (flag("attention") ?? "fused") as "fused" | "operators";
/** `--weights=float16` checks the GPU with float16 projection weights only (no 8-bit rows). */
const gpuWeightBits = flag("weights") === "float16" ? undefined : 8;
const weights = gpuWeightBits ? "int8_weights" : "float16_weights";
/** `--library=PATH`: the ONNX Runtime library every session of the check opens. */
const libraryPath = flag("library");

function turnsOf(seed: number, count: number) {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => ({
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    text: random() < 0.3 ? new TextEncoder().encode("hello") : new Uint8Array(0),
    elapsedSeconds: i * 0.2,
    noise: flowNoise(seed, i),
  }));
}

/**
 * Streams 3 sessions together for `count` micro-turns (session 2 sits out every third step);
 * with `moveAt`, the three move to other slots before that step.
 */
async function run(
  size: ReferenceModelSizeName,
  precision: "float32" | "float16",
  on: ExecutionProvider,
  count: number,
  options: { weightBits?: 8; staticSteps?: StaticStepMode; moveAt?: number } = {},
) {
  const { weightBits, staticSteps, moveAt } = options;
  const built = buildReferenceModel(size, 1, { precision, attention, weightBits });
  const model = await InteractionModel.load(built.bytes, {
    name: built.name,
    executionProvider: on,
    libraryPath,
    staticSteps,
  });
  const cache = model.createCache(8);
  cache.acquire(); // slot 0 idle: the sessions use 1..3, so the binding is a prefix view
  let slots = [cache.acquire(), cache.acquire(), cache.acquire()];
  const sessions = [turnsOf(1, count), turnsOf(2, count), turnsOf(3, count)];
  const outputs: TurnOutput[][] = [[], [], []];
  const next = [0, 0, 0];
  for (let step = 0; next.some((k) => k < count); step++) {
    const stepping = [0, 1, 2].filter((s) => next[s] < count && !(s === 2 && step % 3 === 1));
    if (stepping.length === 0) continue;
    if (step === moveAt) {
      const moves = slots.map((from) => ({ from, to: cache.acquire() }));
      await model.moveSlots(cache, moves);
      for (const { from, to } of moves) cache.transfer(from, to);
      slots = moves.map(({ to }) => to);
    }
    const results = await model.step(
      stepping.map((s) => ({ slot: slots[s], turns: [sessions[s][next[s]++]] })),
      cache,
    );
    results.forEach((r, i) => outputs[stepping[i]].push(r.turns[0]));
  }
  let churnMiB: number[] = [];
  if (on !== "cpu") {
    const used = async () => {
      try {
        const out = await new Deno.Command("nvidia-smi", {
          args: ["--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        }).output();
        return Number(new TextDecoder().decode(out.stdout).trim());
      } catch {
        return NaN;
      }
    };
    churnMiB = [await used()];
    const one = turnsOf(4, 1);
    for (let i = 0; i < 1000; i++) {
      const slot = cache.acquire();
      await model.step([{ slot, turns: one }], cache);
      cache.release(slot);
      if (i % 250 === 249) churnMiB.push(await used());
    }
  }
  const stepCounts = { ...model.stepCounts };
  cache.release();
  await model.close();
  return { outputs, churnMiB, stepCounts };
}

/** Median time of moving 1, 16 and 64 sessions' rings at once in a cache of 128 (base). */
async function moveTimes(on: ExecutionProvider) {
  const built = buildReferenceModel("base", 1, {
    precision: "float16",
    attention,
    weightBits: gpuWeightBits,
  });
  const model = await InteractionModel.load(built.bytes, {
    name: built.name,
    executionProvider: on,
    libraryPath,
  });
  const cache = model.createCache(128);
  for (let i = 0; i < 128; i++) cache.acquire();
  const times: Record<string, number> = {};
  for (const count of [1, 16, 64]) {
    const moves = Array.from({ length: count }, (_, i) => ({ from: 64 + i, to: i }));
    await model.moveSlots(cache, moves); // the mover's session is made on the first move
    const ms: number[] = [];
    for (let i = 0; i < 9; i++) {
      const start = performance.now();
      await model.moveSlots(cache, moves);
      ms.push(performance.now() - start);
    }
    times[`move_${count}_ms_p50`] = ms.sort((a, b) => a - b)[4];
  }
  cache.release();
  await model.close();
  return { ...times, slot_mib: cache.slotBytes / 2 ** 20 };
}

const difference = (a: TurnOutput[][], b: TurnOutput[][]) => {
  let audio = 0, text = 0, control = 0, turns = 0;
  a.forEach((session, s) =>
    session.forEach((out, t) => {
      const other = b[s][t];
      for (let i = 0; i < out.audio.length; i++) {
        audio = Math.max(audio, Math.abs(out.audio[i] - other.audio[i]));
      }
      text += out.textByte === other.textByte ? 0 : 1;
      control += out.control === other.control ? 0 : 1;
      turns++;
    })
  );
  return { max_audio_difference: audio, text_mismatches: text, control_mismatches: control, turns };
};

const tinyCpu = await run("tiny", "float32", "cpu", 40);
const tinyGpu = await run("tiny", "float32", ep, 40);
const tinyDynamicGpu = await run("tiny", "float32", ep, 40, { staticSteps: "off" });
const tinyMovedGpu = await run("tiny", "float32", ep, 40, { moveAt: 20 });
const baseCpu = await run("base", "float32", "cpu", 4);
const baseGpu = await run("base", "float16", ep, 4);
const baseWeightsGpu = await run("base", "float16", ep, 4, { weightBits: gpuWeightBits });
const baseWeightsDynamicGpu = await run("base", "float16", ep, 4, {
  weightBits: gpuWeightBits,
  staticSteps: "off",
});
const baseWeightsMovedGpu = await run("base", "float16", ep, 4, {
  weightBits: gpuWeightBits,
  moveAt: 2,
});
console.log(JSON.stringify({
  ep,
  attention,
  tiny_float32_gpu_vs_cpu: difference(tinyGpu.outputs, tinyCpu.outputs),
  tiny_float32_gpu_static_vs_dynamic: difference(tinyGpu.outputs, tinyDynamicGpu.outputs),
  base_float16_gpu_vs_float32_cpu: difference(baseGpu.outputs, baseCpu.outputs),
  [`base_float16_${weights}_gpu_vs_float32_cpu`]: difference(
    baseWeightsGpu.outputs,
    baseCpu.outputs,
  ),
  [`base_float16_${weights}_gpu_static_vs_dynamic`]: difference(
    baseWeightsGpu.outputs,
    baseWeightsDynamicGpu.outputs,
  ),
  tiny_float32_gpu_moved_vs_unmoved: difference(tinyMovedGpu.outputs, tinyGpu.outputs),
  [`base_float16_${weights}_gpu_moved_vs_unmoved`]: difference(
    baseWeightsMovedGpu.outputs,
    baseWeightsGpu.outputs,
  ),
  [`base_float16_${weights}_slot_moves`]: await moveTimes(ep),
  gpu_step_counts: { static_path: tinyGpu.stepCounts, dynamic_path: tinyDynamicGpu.stepCounts },
  device_memory_mib_across_1000_cycles: tinyGpu.churnMiB,
  device_memory_mib_across_1000_cycles_base: baseGpu.churnMiB,
}));
