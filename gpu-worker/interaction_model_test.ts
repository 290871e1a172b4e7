import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import {
  InteractionModel,
  ModelClosedError,
  ModelContractError,
  type TurnInput,
  type TurnOutput,
} from "./interaction_model.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import { TRAINED_MODEL_PATH } from "./model/trained_model.ts";
import { OnnxGraphBuilder } from "./model/onnx_graph_builder.ts";
import { layerTensorName, modelInputs, modelOutputs } from "./model/model_contract.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { flowNoise } from "./flow_noise.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { PATCH_BYTES, PATCHES_PER_FRAME } from "../protocol/media_format.ts";

const built = buildReferenceModel("tiny", 42);
const model = await InteractionModel.load(built.bytes, { name: built.name });

/** A reproducible micro-turn: random dMel codes, sometimes text, sometimes a camera frame. */
function turnInput(random: () => number, index: number): TurnInput {
  return {
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    text: random() < 0.3 ? new TextEncoder().encode("hello") : new Uint8Array(0),
    patches: random() < 0.3
      ? Uint8Array.from(
        { length: PATCHES_PER_FRAME * PATCH_BYTES },
        () => Math.floor(random() * 256),
      )
      : undefined,
    elapsedSeconds: index * 0.2,
    noise: flowNoise(7, index),
  };
}

const session = (seed: number, turns: number) => {
  const random = seededRandom(seed);
  return Array.from({ length: turns }, (_, i) => turnInput(random, i));
};

/** Streams `turns` one micro-turn per step through a fresh slot of `cache`, as the worker does. */
async function streamed(m: InteractionModel, turns: TurnInput[], cache: KvCacheSlots) {
  const slot = cache.acquire();
  const outputs: TurnOutput[] = [];
  for (const turn of turns) {
    const [out] = await m.step([{ slot, turns: [turn] }], cache);
    outputs.push(out.turns[0]);
  }
  cache.release(slot);
  return outputs;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Tolerance for float32 results computed in another order (documented in the model contract). */
const TOLERANCE = 1e-4;

function assertSameOutputs(actual: TurnOutput[], expected: TurnOutput[], what: string) {
  assert.equal(actual.length, expected.length);
  actual.forEach((out, i) => {
    const difference = maxDifference(out.audio, expected[i].audio);
    assert.ok(difference < TOLERANCE, `${what}: turn ${i} audio differs by ${difference}`);
    assert.equal(out.textByte, expected[i].textByte, `${what}: turn ${i} text`);
    assert.equal(out.control, expected[i].control, `${what}: turn ${i} control`);
  });
}

Deno.test("the reference model builds deterministically from its seed and declares its cache", () => {
  assert.deepEqual(buildReferenceModel("tiny", 42).bytes, built.bytes);
  assert.notDeepEqual(buildReferenceModel("tiny", 43).bytes, built.bytes);
  assert.deepEqual(model.geometry, {
    layers: 2,
    heads: 4,
    window: 160,
    cacheLength: 240,
    headSize: 16,
    cacheType: "float32",
    keyLayout: "positions",
  });
  assert.ok(built.parameters > 100_000 && built.parameters < 2_000_000, `${built.parameters}`);
});

/** The models the contract's guarantees are checked on: the seeded reference and the trained one. */
const subjects: [string, InteractionModel][] = [
  ["reference", model],
  ["trained", await InteractionModel.load(TRAINED_MODEL_PATH, { name: "trained" })],
];

for (const [label, subject] of subjects) {
  Deno.test(`streaming equivalence (${label}): micro-turn by micro-turn equals one call over the whole sequence`, async () => {
    const turns = session(1, 8);
    const cache = subject.createCache(2);
    const stepwise = await streamed(subject, turns, cache);
    const slot = cache.acquire();
    const [whole] = await subject.step([{ slot, turns }], cache);
    assertSameOutputs(whole.turns, stepwise, "whole");
    // The audio is a real function of the input: another session's differs.
    const other = await streamed(subject, session(2, 8), cache);
    assert.ok(maxDifference(other[7].audio, stepwise[7].audio) > 0.01);
    cache.release();
  });
}

Deno.test("every part of a micro-turn reaches the outputs: dMel, text, camera frame, time and noise", async () => {
  const random = seededRandom(20);
  const base: TurnInput = { ...turnInput(random, 3), patches: undefined, text: new Uint8Array(0) };
  const variants: Record<string, TurnInput> = {
    dmel: { ...base, dmel: base.dmel.map((code) => (code + 1) % 16) },
    text: { ...base, text: new TextEncoder().encode("hi") },
    frame: { ...base, patches: new Uint8Array(PATCHES_PER_FRAME * PATCH_BYTES).fill(200) },
    time: { ...base, elapsedSeconds: base.elapsedSeconds + 30 },
    noise: { ...base, noise: flowNoise(8, 3) },
  };
  const cache = model.createCache(1 + Object.keys(variants).length);
  const slots = [base, ...Object.values(variants)].map(() => cache.acquire());
  // One step: the base and every variant side by side, each in its own slot.
  const [reference, ...changed] = await model.step(
    [base, ...Object.values(variants)].map((turn, i) => ({ slot: slots[i], turns: [turn] })),
    cache,
  );
  Object.keys(variants).forEach((name, i) => {
    const difference = maxDifference(changed[i].turns[0].audio, reference.turns[0].audio);
    assert.ok(difference > 1e-3, `changing the ${name} changed the audio by only ${difference}`);
  });
  cache.release();
});

for (const [label, subject] of subjects) {
  Deno.test(`batch invariance (${label}): sessions stepped together equal each stepped alone, and sessions left out of a step are untouched`, async () => {
    const sessions = [session(3, 3), session(4, 3), session(5, 3), session(6, 3)];
    const cache = subject.createCache(8);
    const alone: TurnOutput[][] = [];
    for (const turns of sessions) alone.push(await streamed(subject, turns, cache));
    const owned = sessions.map(() => cache.acquire());
    for (let t = 0; t < 3; t++) {
      // Session 3 sits out turn 1 and catches up after: the others' steps must not touch it.
      const stepping = t === 1 ? [0, 1, 2] : [0, 1, 2, 3];
      const outputs = await subject.step(
        stepping.map((s) => ({ slot: owned[s], turns: [sessions[s][t]] })),
        cache,
      );
      outputs.forEach((out, i) =>
        assertSameOutputs(out.turns, [alone[stepping[i]][t]], `s${i} t${t}`)
      );
      if (t === 1) {
        const [late] = await subject.step([{ slot: owned[3], turns: [sessions[3][1]] }], cache);
        assertSameOutputs(late.turns, [alone[3][1]], "late");
      }
    }
    cache.release();
  });
}

Deno.test("the ring wraps: a session streamed past its cache's length equals the same model with a longer ring", async () => {
  // The tiny ring holds 240 positions (24 micro-turns); 40 micro-turns wrap it, and slide the
  // 160-position window, twice over. A ring of 560 positions never wraps in that time.
  const longRing = buildReferenceModel("tiny", 42, { overrides: { headroom: 400 } });
  const reference = await InteractionModel.load(longRing.bytes, { name: longRing.name });
  const turns = session(9, 40);
  const wrapping = model.createCache(2);
  const straight = reference.createCache(2);
  wrapping.acquire(); // the session gets slot 1: a slot other than the first
  const expected = await streamed(reference, turns, straight);
  const actual = await streamed(model, turns, wrapping);
  assertSameOutputs(actual, expected, "wrapped");
  wrapping.release();
  straight.release();
  await reference.close();
});

Deno.test("attention from plain operators computes what the fused kernel does, batched and past the window", async () => {
  const operators = buildReferenceModel("tiny", 42, { attention: "operators" });
  assert.notDeepEqual(operators.bytes, built.bytes);
  const other = await InteractionModel.load(operators.bytes, { name: operators.name });
  assert.equal(other.geometry.keyLayout, "features"); // keys x queries reads rings by feature
  const sessions = [session(12, 20), session(13, 20)];
  const results = [];
  for (const m of [model, other]) {
    const cache = m.createCache(3);
    cache.acquire(); // an idle session: its slot is read, never written
    const slots = sessions.map(() => cache.acquire());
    const outputs: TurnOutput[][] = [[], []];
    for (let t = 0; t < 20; t++) {
      // The second session sits out every third step; both slide past the 16-turn window.
      const stepping = t % 3 === 2 ? [0] : [0, 1];
      const steps = await m.step(
        stepping.map((s) => ({ slot: slots[s], turns: [sessions[s][t]] })),
        cache,
      );
      steps.forEach((out, i) => outputs[stepping[i]].push(...out.turns));
    }
    results.push(outputs);
    cache.release();
  }
  assertSameOutputs(results[1][0], results[0][0], "operators, session 0");
  assertSameOutputs(results[1][1], results[0][1], "operators, session 1");
  await other.close();
});

Deno.test("8-bit projection weights: outputs track the float weights, and streaming still equals one call", async () => {
  const quantized = buildReferenceModel("tiny", 42, { attention: "operators", weightBits: 8 });
  const float = buildReferenceModel("tiny", 42, { attention: "operators" });
  assert.equal(quantized.parameters, float.parameters);
  const models = await Promise.all(
    [quantized, float].map((m) => InteractionModel.load(m.bytes, { name: m.name })),
  );
  const turns = session(14, 30);
  const [ours, theirs] = await Promise.all(models.map((m) => streamed(m, turns, m.createCache(1))));
  let agreeing = 0;
  ours.forEach((out, i) => {
    const difference = maxDifference(out.audio, theirs[i].audio);
    assert.ok(difference < 0.02, `turn ${i} audio differs by ${difference}`);
    agreeing += (out.textByte === theirs[i].textByte ? 1 : 0) +
      (out.control === theirs[i].control ? 1 : 0);
  });
  assert.ok(agreeing >= 0.9 * 2 * ours.length, `${agreeing} of ${2 * ours.length} choices agree`);
  const cache = models[0].createCache(1);
  const [whole] = await models[0].step(
    [{ slot: cache.acquire(), turns: turns.slice(0, 8) }],
    cache,
  );
  assertSameOutputs(whole.turns, ours.slice(0, 8), "8-bit whole");
  cache.release();
  for (const m of models) await m.close();
});

Deno.test("a reused slot starts empty: a new session in a released slot equals one in a fresh cache", async () => {
  const cache = model.createCache(1);
  await streamed(model, session(10, 30), cache); // fills and wraps the only slot, then releases it
  const reused = await streamed(model, session(11, 5), cache);
  const fresh = model.createCache(1);
  assertSameOutputs(reused, await streamed(model, session(11, 5), fresh), "reused");
  cache.release();
  fresh.release();
});

Deno.test("1000 session open/close cycles keep the process's memory flat", async () => {
  // In a process of its own: resident memory is per process, and other test modules run
  // beside this one.
  const churn = new URL("./testdata/slot_churn.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", churn],
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const { grownBytes, slotsInUse } = JSON.parse(new TextDecoder().decode(stdout));
  assert.ok(
    grownBytes < 32 * 2 ** 20,
    `resident memory grew by ${(grownBytes / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.equal(slotsInUse, 0);
});

Deno.test("a model that does not match the contract is refused with the mismatch named", async () => {
  const missing = new OnnxGraphBuilder("wrong");
  missing.input("turn_ints", "int32", ["batch", "turns", 1633]);
  missing.node("Identity", ["turn_ints"], {}, ["audio"]);
  missing.output("audio", "int32", ["batch", "turns", 1633]);
  await assert.rejects(
    InteractionModel.load(missing.build(), { name: "wrong" }),
    (error) =>
      error instanceof ModelContractError && /missing \[turn_floats, patches/.test(error.message),
  );
  // Every name right, but one layer's cache has another head size than the others.
  await assert.rejects(
    InteractionModel.load(mismatchedHeadSizeModel(), { name: "mismatched" }),
    (error) =>
      error instanceof ModelContractError &&
      /input "past_values_1" has shape \[cache_rows, 32\]/.test(error.message),
  );
  // Keys stored by feature are this contract's: a model that says interaction-v3 may not.
  const operators = buildReferenceModel("tiny", 42, { attention: "operators" }).bytes;
  await assert.rejects(
    InteractionModel.load(withMetadata(operators, { contract: "interaction-v3" }), { name: "v3" }),
    (error) =>
      error instanceof ModelContractError && /need contract "interaction-v4"/.test(error.message),
  );
  await assert.rejects(
    InteractionModel.load(withMetadata(operators, { key_layout: "columns" }), { name: "columns" }),
    (error) => error instanceof ModelContractError && /"key_layout" must be/.test(error.message),
  );
  // A model made for a previous contract says so in its metadata.
  const previous = new OnnxGraphBuilder("previous").build({ contract: "interaction-v2" });
  await assert.rejects(
    InteractionModel.load(previous, { name: "previous" }),
    (error) => error instanceof ModelContractError && /"interaction-v2"/.test(error.message),
  );
});

/** `model` with metadata entries replaced. */
function withMetadata(model: Uint8Array, entries: Record<string, string>): Uint8Array {
  const decoded = onnxProto.onnx.ModelProto.decode(model);
  for (const entry of decoded.metadataProps) {
    if (entry.key && entry.key in entries) entry.value = entries[entry.key];
  }
  return onnxProto.onnx.ModelProto.encode(decoded).finish();
}

/** A graph declaring every contract tensor, whose `past_values_1` has head size 32, not 16. */
function mismatchedHeadSizeModel(): Uint8Array {
  const g = new OnnxGraphBuilder("mismatched_head_size");
  const cache: Record<string, number> = { "cache:head_size": 16 };
  const declare = (specs: ReturnType<typeof modelInputs>, as: "input" | "output") => {
    for (const spec of specs) {
      for (let l = 0; l < (spec.name.includes("{layer}") ? 2 : 1); l++) {
        const name = layerTensorName(spec.name, l);
        const dims = spec.dims.map((d) =>
          name === "past_values_1" && d === "cache:head_size"
            ? 32
            : typeof d === "string" && d in cache
            ? cache[d]
            : d
        );
        const type = spec.type === "cache" ? "float32" : spec.type;
        if (as === "input") g.input(name, type, dims);
        else {
          g.node("Identity", ["turn_ints"], {}, [name]);
          g.output(name, type, dims);
        }
      }
    }
  };
  declare(modelInputs(), "input");
  declare(modelOutputs(), "output");
  return g.build({ heads: "4", window: "160", cache_length: "240" });
}

// Last: closes the models this module shared across its tests.
Deno.test("a closed model refuses to step, and closing it again changes nothing", async () => {
  for (const [, subject] of subjects) {
    const cache = subject.createCache(1);
    const slot = cache.acquire();
    cache.release();
    await subject.close();
    await subject.close();
    await assert.rejects(
      subject.step([{ slot, turns: session(15, 1) }], cache),
      ModelClosedError,
    );
  }
});
