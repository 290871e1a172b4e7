import assert from "node:assert/strict";
import { InteractionModel, type TurnInput } from "./interaction_model.ts";
import { TRAINED_MODEL_PATH } from "./model/trained_model.ts";
import { CONTROL_CLASSES } from "./model/model_contract.ts";

/**
 * PyTorch's outputs for a fixed input (train/export.py --reference-out): the whole sequence in
 * one pass of the training graph, with the weights rounded to float16 as the file stores them.
 */
const reference = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/trained_reference.json", import.meta.url)),
) as {
  turns: number;
  codes: number[];
  text: number[];
  elapsed: number[];
  text_logits: number[];
  control_logits: number[];
};
const floats = new Float32Array(
  (await Deno.readFile(new URL("./testdata/trained_reference.f32", import.meta.url))).buffer,
);

/** Largest gap between ONNX Runtime's streamed audio and PyTorch's (float32 both, op order). */
const TOLERANCE = 1e-3;

const argmax = (values: number[]) => values.indexOf(Math.max(...values));

Deno.test("the shipped trained model passes the contract check, is at most 16 MB, and says what it is", async () => {
  const bytes = await Deno.readFile(TRAINED_MODEL_PATH);
  assert.ok(bytes.length <= 16 * 1024 * 1024, `${bytes.length} bytes`);
  const model = await InteractionModel.load(bytes, { name: "trained" });
  assert.equal(model.geometry.cacheType, "float32");
  assert.ok(model.geometry.window >= 400, "a window that holds a long turn and its answer");
  await model.close();
});

Deno.test("ONNX Runtime streaming the exported graph gives PyTorch's outputs", async () => {
  const model = await InteractionModel.load(TRAINED_MODEL_PATH, { name: "trained" });
  const cache = model.createCache(2);
  cache.acquire(); // the session gets slot 1, so the rings' slot arithmetic is exercised
  const slot = cache.acquire();
  const samples = 3200;
  const noise = floats.subarray(0, reference.turns * samples);
  const audio = floats.subarray(reference.turns * samples);
  for (let t = 0; t < reference.turns; t++) {
    const textBytes = reference.text.slice(t * 32, (t + 1) * 32).filter((b) => b > 0);
    const turn: TurnInput = {
      dmel: Uint8Array.from(reference.codes.slice(t * 1600, (t + 1) * 1600)),
      text: Uint8Array.from(textBytes),
      elapsedSeconds: reference.elapsed[t],
      noise: noise.slice(t * samples, (t + 1) * samples),
    };
    const [out] = await model.step([{ slot, turns: [turn] }], cache);
    const { audio: streamed, textByte, control } = out.turns[0];
    let difference = 0;
    for (let i = 0; i < samples; i++) {
      difference = Math.max(difference, Math.abs(streamed[i] - audio[t * samples + i]));
    }
    assert.ok(difference < TOLERANCE, `turn ${t}: audio differs by ${difference}`);
    assert.equal(textByte, argmax(reference.text_logits.slice(t * 256, (t + 1) * 256)));
    assert.equal(
      control,
      CONTROL_CLASSES[argmax(reference.control_logits.slice(t * 3, (t + 1) * 3))],
    );
  }
  cache.release();
  await model.close();
});
