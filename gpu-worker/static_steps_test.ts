import assert from "node:assert/strict";
import { InteractionModel, type TurnInput, type TurnOutput } from "./interaction_model.ts";
import { staticBucketSizes } from "./static_steps.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import { TRAINED_MODEL_PATH } from "./model/trained_model.ts";
import { flowNoise } from "./flow_noise.ts";
import { WorkerRuntime } from "./worker_runtime.ts";
import { Registry } from "prom-client";
import { seededRandom } from "../lib/seeded_random.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";
import { PATCH_BYTES, PATCHES_PER_FRAME } from "../protocol/media_format.ts";

/** Tolerance for float32 results computed in another order (documented in the model contract). */
const TOLERANCE = 1e-4;

function turnInput(random: () => number, index: number): TurnInput {
  return {
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    text: random() < 0.3 ? new TextEncoder().encode("hi") : new Uint8Array(0),
    patches: random() < 0.25
      ? Uint8Array.from({ length: PATCHES_PER_FRAME * PATCH_BYTES }, () => random() * 256)
      : undefined,
    elapsedSeconds: index * 0.2,
    noise: flowNoise(index, 3),
  };
}

/** One step of a script: which slots step with how many micro-turns, and churn after it. */
interface ScriptStep {
  stepping: number[];
  turns: number;
  release: number[];
  acquire: number;
}

/**
 * A reproducible stream of steps over a cache of `capacity` slots: sessions sit out steps,
 * leave and arrive (their slots reused), and now and then every stepping session brings
 * several micro-turns at once (a resume's replay), which runs with dynamic shapes.
 */
function script(seed: number, capacity: number, steps: number): ScriptStep[] {
  const random = seededRandom(seed);
  const inUse = new Set<number>();
  const free = Array.from({ length: capacity }, (_, i) => i);
  const out: ScriptStep[] = [];
  const take = () => {
    free.sort((a, b) => a - b);
    inUse.add(free.shift()!);
  };
  for (let i = 0; i < 3; i++) take();
  for (let s = 0; s < steps; s++) {
    const stepping = [...inUse].filter(() => random() < 0.75);
    if (stepping.length === 0) stepping.push([...inUse][0]);
    const turns = random() < 0.15 ? 3 : 1;
    const release = [...inUse].filter((slot) => !stepping.includes(slot) && random() < 0.2);
    for (const slot of release) {
      inUse.delete(slot);
      free.push(slot);
    }
    // At most 4 sessions (the static buckets), then up to 6 (dynamic shapes) in the last steps.
    const limit = s < steps - 8 ? 4 : capacity;
    const acquire = Math.max(0, Math.min(limit - inUse.size, random() < 0.4 ? 2 : 0));
    for (let i = 0; i < acquire; i++) take();
    if (inUse.size === 0) {
      take();
      out.push({ stepping, turns, release, acquire: acquire + 1 });
    } else {
      out.push({ stepping, turns, release, acquire });
    }
  }
  return out;
}

/** Plays `steps` on `cache`; returns every stepped micro-turn's output, in order. */
async function play(
  model: InteractionModel,
  cache: KvCacheSlots,
  steps: ScriptStep[],
  seed: number,
): Promise<{ outputs: TurnOutput[]; positions: number[] }> {
  const random = seededRandom(seed);
  for (let i = 0; i < 3; i++) cache.acquire();
  const outputs: TurnOutput[] = [];
  let index = 0;
  for (const step of steps) {
    const inputs = step.stepping.map((slot) => ({
      slot,
      turns: Array.from({ length: step.turns }, () => turnInput(random, index++)),
    }));
    const results = await model.step(inputs, cache);
    outputs.push(...results.flatMap((result) => result.turns));
    for (const slot of step.release) cache.release(slot);
    for (let i = 0; i < step.acquire; i++) cache.acquire();
  }
  const positions = Array.from({ length: cache.capacity }, (_, slot) => cache.position(slot));
  return { outputs, positions };
}

function assertSameOutputs(actual: TurnOutput[], expected: TurnOutput[]) {
  assert.equal(actual.length, expected.length);
  actual.forEach((out, i) => {
    let difference = 0;
    for (let j = 0; j < out.audio.length; j++) {
      difference = Math.max(difference, Math.abs(out.audio[j] - expected[i].audio[j]));
    }
    assert.ok(difference < TOLERANCE, `micro-turn ${i}: audio differs by ${difference}`);
    assert.equal(out.textByte, expected[i].textByte, `micro-turn ${i}: text`);
    assert.equal(out.control, expected[i].control, `micro-turn ${i}: control`);
  });
}

async function compareStaticWithDynamic(source: Uint8Array | string, name: string) {
  const fixed = await InteractionModel.load(source, { name, staticSteps: "fixed" });
  const dynamic = await InteractionModel.load(source, { name, staticSteps: "off" });
  // Buckets of 2 and 4 slots in a cache of 6: spans of 5 and 6 fall back to dynamic shapes.
  const staticCache = fixed.createCache(6, { staticBuckets: [4, 2] });
  const dynamicCache = dynamic.createCache(6);
  try {
    const steps = script(5, 6, 40);
    const expected = await play(dynamic, dynamicCache, steps, 9);
    const actual = await play(fixed, staticCache, steps, 9);
    assertSameOutputs(actual.outputs, expected.outputs);
    assert.deepEqual(actual.positions, expected.positions);
    assert.ok(fixed.stepCounts.static >= 20, `static steps: ${fixed.stepCounts.static}`);
    assert.ok(fixed.stepCounts.dynamic >= 3, `dynamic steps: ${fixed.stepCounts.dynamic}`);
    assert.deepEqual(dynamic.stepCounts.static, 0);
  } finally {
    staticCache.release();
    dynamicCache.release();
    await fixed.close();
    await dynamic.close();
  }
}

Deno.test("static steps give what dynamic steps give while sessions idle, leave and arrive", async () => {
  const built = buildReferenceModel("tiny", 42);
  await compareStaticWithDynamic(built.bytes, built.name);
});

Deno.test("static steps of the trained model give what its dynamic steps give", async () => {
  await compareStaticWithDynamic(TRAINED_MODEL_PATH, "trained");
});

Deno.test("a streaming step takes the smallest bucket holding every slot in use", async () => {
  assert.deepEqual(staticBucketSizes(4), [4]);
  assert.deepEqual(staticBucketSizes(8), [8]);
  assert.deepEqual(staticBucketSizes(100), [8, 16, 32, 64, 100]);
  assert.deepEqual(staticBucketSizes(513), [8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 513]);
  assert.equal(staticBucketSizes(2048).length, 5 + 7 + 1); // 8-128, every 256, then 2048
  const built = buildReferenceModel("tiny", 42);
  const model = await InteractionModel.load(built.bytes, { name: "tiny", staticSteps: "fixed" });
  const cache = model.createCache(8, { staticBuckets: [2, 8] });
  try {
    const random = seededRandom(1);
    const slots = Array.from({ length: 3 }, () => cache.acquire());
    // Slots 0-1 in use: the bucket of 2; slot 2 in use: the bucket of 8 (span 3).
    cache.release(slots[2]);
    await model.step([{ slot: 0, turns: [turnInput(random, 0)] }], cache);
    assert.deepEqual(model.stepCounts, { static: 1, dynamic: 0 });
    cache.acquire();
    await model.step([{ slot: 2, turns: [turnInput(random, 1)] }], cache);
    assert.deepEqual(model.stepCounts, { static: 2, dynamic: 0 });
    assert.deepEqual([0, 1, 2].map((slot) => cache.position(slot)), [10, 0, 10]);
    // A slot stepped twice in one step is refused, and the cache is left as it was.
    await assert.rejects(
      model.step([
        { slot: 0, turns: [turnInput(random, 2)] },
        { slot: 0, turns: [turnInput(random, 3)] },
      ], cache),
      RangeError,
    );
    assert.equal(cache.position(0), 10);
  } finally {
    cache.release();
    await model.close();
  }
});

Deno.test("static rows carry their noise as a bank row; a micro-turn with noise of its own steps with dynamic shapes, to the same outputs", async () => {
  const built = buildReferenceModel("tiny", 42);
  const model = await InteractionModel.load(built.bytes, { name: "tiny", staticSteps: "fixed" });
  const banked = model.createCache(4, { staticBuckets: [4] });
  const own = model.createCache(4, { staticBuckets: [4] });
  try {
    const random = seededRandom(8);
    const turns = Array.from({ length: 3 }, (_, i) => turnInput(random, i));
    const outputs = async (cache: KvCacheSlots, copyNoise: boolean) => {
      const slot = cache.acquire();
      const results: TurnOutput[] = [];
      for (const turn of turns) {
        const noise = copyNoise ? Float32Array.from(turn.noise) : turn.noise;
        results.push(
          ...(await model.step([{ slot, turns: [{ ...turn, noise }] }], cache))[0].turns,
        );
      }
      return results;
    };
    const expected = await outputs(banked, false);
    assert.deepEqual(model.stepCounts, { static: 3, dynamic: 0 });
    const actual = await outputs(own, true);
    assert.deepEqual(model.stepCounts, { static: 3, dynamic: 3 });
    assertSameOutputs(actual, expected);
  } finally {
    banked.release();
    own.release();
    await model.close();
  }
});

Deno.test("a worker on static steps waits for its buckets and counts its steps by path", async () => {
  const built = buildReferenceModel("tiny", 42);
  const model = await InteractionModel.load(built.bytes, { name: "tiny", staticSteps: "fixed" });
  const registry = new Registry();
  const runtime = new WorkerRuntime(model, { registry, capacity: 4 });
  try {
    await runtime.ready;
    // A session opened with context is prefilled by a bulk step: dynamic shapes.
    await runtime.open("a", 0, "earlier: " + "hello ".repeat(20));
    const random = seededRandom(3);
    for (let index = 0; index < 3; index++) {
      await runtime.run(randomMicroTurn("a", index, random));
    }
    const metrics = await registry.metrics();
    assert.match(metrics, /worker_model_steps_total\{path="static"\} 3\n/);
    // Each static step reports where its time went, phase by phase.
    for (const phase of ["write", "upload", "launch", "download", "read"]) {
      assert.match(
        metrics,
        new RegExp(`worker_static_step_phase_seconds_count\\{phase="${phase}"\\} 3\\n`),
      );
    }
    assert.match(metrics, /worker_model_steps_total\{path="dynamic"\} [1-9]/);
  } finally {
    await runtime.release();
    await model.close();
  }
});
