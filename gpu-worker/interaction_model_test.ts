import assert from "node:assert/strict";
import { InteractionModel, ModelContractError, type ModelStepInput } from "./interaction_model.ts";
import { buildMinimalModel } from "./model/minimal_model.ts";
import { OnnxGraphBuilder } from "./model/onnx_graph_builder.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const built = buildMinimalModel({ seed: 42 });

function randomInput(random: () => number, stateWidth: number): ModelStepInput {
  return {
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    text: new TextEncoder().encode(random() < 0.5 ? "" : "hello"),
    elapsedSeconds: random() * 1000,
    state: Float32Array.from({ length: stateWidth }, () => random() * 2 - 1),
  };
}

Deno.test("the minimal model loads, steps a batch, and batching does not change any session's output", async () => {
  const model = await InteractionModel.load(built.bytes, { name: built.name });
  assert.equal(model.stateWidth, built.stateWidth);
  const random = seededRandom(9);
  const inputs = Array.from({ length: 5 }, () => randomInput(random, model.stateWidth));
  const batched = await model.step(inputs);
  for (let b = 0; b < inputs.length; b++) {
    const [alone] = await model.step([inputs[b]]);
    assert.equal(alone.textByte, batched[b].textByte);
    assert.equal(alone.control, batched[b].control);
    for (let i = 0; i < alone.audio.length; i++) {
      assert.ok(Math.abs(alone.audio[i] - batched[b].audio[i]) < 1e-5);
    }
    assert.ok(alone.audio.some((x) => x !== 0) && alone.audio.every((x) => Math.abs(x) <= 0.05));
  }
  assert.notDeepEqual(batched[0].state, inputs[0].state);
  await model.close();
});

Deno.test("the model build is deterministic from its seed", () => {
  assert.deepEqual(buildMinimalModel({ seed: 42 }).bytes, built.bytes);
  assert.notDeepEqual(buildMinimalModel({ seed: 43 }).bytes, built.bytes);
});

Deno.test("a model that does not match the contract is refused with the mismatch named", async () => {
  const g = new OnnxGraphBuilder("wrong");
  g.input("dmel_codes", "int64", ["batch", 20, 80]);
  g.input("state", "float32", ["batch", 8]);
  g.node("Identity", ["state"], {}, ["state_out"]);
  g.output("state_out", "float32", ["batch", 8]);
  await assert.rejects(
    InteractionModel.load(g.build(), { name: "wrong" }),
    (error) =>
      error instanceof ModelContractError &&
      /missing \[text_bytes, elapsed_s\]/.test(error.message),
  );
});
