import assert from "node:assert/strict";
import {
  InteractionModel,
  ModelContractError,
  type SessionStep,
  type TurnInput,
  type TurnOutput,
} from "./interaction_model.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import { OnnxGraphBuilder } from "./model/onnx_graph_builder.ts";
import { layerTensorName, MODEL_INPUTS, MODEL_OUTPUTS } from "./model/model_contract.ts";
import { KvCacheSlots } from "./kv_cache_slots.ts";
import { flowNoise } from "./worker_runtime.ts";
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

/** Streams `turns` one micro-turn per step through a cache slot, as the worker does. */
async function streamed(turns: TurnInput[], slots: KvCacheSlots) {
  const slot = slots.acquire();
  const outputs: TurnOutput[] = [];
  for (const turn of turns) {
    const [out] = await model.step([{
      turns: [turn],
      position: slots.position(slot),
      cache: slots.view(slot),
    }]);
    slots.append(slot, out.newKeys, out.newValues, 10);
    outputs.push(out.turns[0]);
  }
  slots.release(slot);
  return outputs;
}

const emptyCache = (slots: KvCacheSlots) => {
  const slot = slots.acquire();
  const view = slots.view(slot);
  slots.release(slot);
  return view;
};

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Tolerance for float32 results computed in another order (documented in the model contract). */
const TOLERANCE = 1e-4;

Deno.test("the reference model builds deterministically from its seed and declares its cache", () => {
  assert.deepEqual(buildReferenceModel("tiny", 42).bytes, built.bytes);
  assert.notDeepEqual(buildReferenceModel("tiny", 43).bytes, built.bytes);
  assert.deepEqual(model.geometry, { layers: 2, heads: 4, window: 160, headSize: 16 });
  assert.ok(built.parameters > 100_000 && built.parameters < 2_000_000, `${built.parameters}`);
});

Deno.test("streaming equivalence: micro-turn by micro-turn equals one run over the whole sequence", async () => {
  const turns = session(1, 8);
  const slots = new KvCacheSlots(2, model.geometry);
  const stepwise = await streamed(turns, slots);
  const [whole] = await model.step([{ turns, position: 0, cache: emptyCache(slots) }]);
  whole.turns.forEach((out, i) => {
    assert.ok(maxDifference(out.audio, stepwise[i].audio) < TOLERANCE, `turn ${i} audio`);
    assert.equal(out.textByte, stepwise[i].textByte);
    assert.equal(out.control, stepwise[i].control);
  });
  // The audio is a real function of the input: another session's differs.
  const other = await streamed(session(2, 8), slots);
  assert.ok(maxDifference(other[7].audio, stepwise[7].audio) > 0.01);
});

Deno.test("batch invariance: sessions stepped together equal each stepped alone", async () => {
  const sessions = [session(3, 3), session(4, 3), session(5, 3), session(6, 3)];
  const slots = new KvCacheSlots(8, model.geometry);
  const alone: TurnOutput[][] = [];
  for (const turns of sessions) alone.push(await streamed(turns, slots));
  const owned = sessions.map(() => slots.acquire());
  for (let t = 0; t < 3; t++) {
    const steps: SessionStep[] = sessions.map((turns, s) => ({
      turns: [turns[t]],
      position: slots.position(owned[s]),
      cache: slots.view(owned[s]),
    }));
    const outputs = await model.step(steps);
    outputs.forEach((out, s) => {
      slots.append(owned[s], out.newKeys, out.newValues, 10);
      assert.ok(maxDifference(out.turns[0].audio, alone[s][t].audio) < TOLERANCE, `s${s} t${t}`);
      assert.equal(out.turns[0].textByte, alone[s][t].textByte);
    });
  }
});

Deno.test("a model that does not match the contract is refused with the mismatch named", async () => {
  const missing = new OnnxGraphBuilder("wrong");
  missing.input("dmel_codes", "int64", ["batch", "turns", 20, 80]);
  missing.node("Identity", ["dmel_codes"], {}, ["audio"]);
  missing.output("audio", "int64", ["batch", "turns", 20, 80]);
  await assert.rejects(
    InteractionModel.load(missing.build(), { name: "wrong" }),
    (error) =>
      error instanceof ModelContractError && /missing \[text_bytes, patches/.test(error.message),
  );
  // Every name right, but the mask's window disagrees with the cache's.
  await assert.rejects(
    InteractionModel.load(mismatchedWindowModel(), { name: "mismatched" }),
    (error) =>
      error instanceof ModelContractError && /input "past_mask" has shape/.test(error.message),
  );
});

/** A graph with every contract tensor, whose `past_mask` window (150) is not the cache's (160). */
function mismatchedWindowModel(): Uint8Array {
  const g = new OnnxGraphBuilder("mismatched_window");
  const cache: Record<string, number> = {
    "cache:layers": 2,
    "cache:heads": 4,
    "cache:window": 160,
    "cache:head_size": 16,
  };
  const inputDims: Record<string, (string | number)[]> = {};
  for (const spec of MODEL_INPUTS) {
    const dims = spec.dims.map((d) => typeof d === "string" && d in cache ? cache[d] : d);
    for (let l = 0; l < (spec.name.includes("{layer}") ? 2 : 1); l++) {
      const name = layerTensorName(spec.name, l);
      inputDims[name] = name === "past_mask" ? ["batch", 150] : dims;
      g.input(name, spec.type, inputDims[name]);
    }
  }
  const sources: Record<string, string> = {
    audio: "image_present",
    text_logits: "elapsed_s",
    control_logits: "past_mask",
    new_keys: "past_keys_0",
    new_values: "past_values_0",
  };
  for (const spec of MODEL_OUTPUTS) {
    g.node("Identity", [sources[spec.name]], {}, [spec.name]);
    g.output(spec.name, spec.type, inputDims[sources[spec.name]]);
  }
  return g.build();
}
